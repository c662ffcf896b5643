/**
 * The link's proof of life: every ACK_EVERY-th heartbeat asks for an ack; a
 * server that stops answering (the connection still open, as behind a
 * firewall that drops, or frozen) shows as `unansweredSince`, and after
 * SILENT_INTERVALS_BEFORE_REDIAL intervals the link is dropped and dialled
 * again, down since the first reply it was owed. Real mutual TLS on
 * loopback; the link's timers run on a fake clock.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { ACK_EVERY, AgentLink, SILENT_INTERVALS_BEFORE_REDIAL } from '../../../agent/link/agent-link.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { linkPeer } from '../../helpers/link-peer.ts';
import { waitFor } from '../../helpers/wait.ts';

interface Frame {
  type: string;
  seq: number;
  wantAck?: boolean;
}

test('heartbeats ask for an ack one in ACK_EVERY; a server that stops answering is noticed, then redialled', async () => {
  const { wss, url, identity, close } = await linkPeer('lima');
  let answering = true;
  const conns: { ws: WebSocket; got: Frame[]; closed: boolean }[] = [];
  wss.on('connection', (ws) => {
    const conn = { ws, got: [] as Frame[], closed: false };
    conns.push(conn);
    ws.on('close', () => {
      conn.closed = true;
    });
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Frame;
      conn.got.push(m);
      if (!answering) return;
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', host: 'lima', serverTime: Date.now(), interval: 1000 }));
      else if (m.wantAck) ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
  });
  const clock = new FakeClock();
  const interval = 1000;
  const link = new AgentLink({
    url,
    identity,
    clock,
    log: silentLogger(),
    intervalMs: interval,
    jitterMs: 0,
    agentVersion: 't',
    random: () => 0.5,
    facts: () => ({ hostname: 'lima', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  const beats = () => conns[0]!.got.filter((m) => m.type === 'heartbeat');
  /** One interval on the fake clock, then the real round trip of whatever that sent. */
  const tick = async (expectBeats: number) => {
    clock.advance(interval);
    await waitFor(() => beats().length >= expectBeats, { what: `heartbeat ${expectBeats}` });
    await new Promise((r) => setTimeout(r, 30));
  };
  try {
    link.start();
    await waitFor(() => link.isConnected, { what: 'welcome' });
    assert.equal(link.unansweredSince, null, 'the welcome answered the hello');

    // An answering server: acks asked for every ACK_EVERY beats, nothing owed after each round trip.
    for (let i = 1; i <= 2 * ACK_EVERY; i++) {
      await tick(i);
      assert.equal(link.unansweredSince, null, `beat ${i} owes nothing once answered`);
    }
    assert.deepEqual(
      beats().map((b) => b.wantAck === true),
      Array.from({ length: 2 * ACK_EVERY }, (_, i) => i % ACK_EVERY === 0),
    );

    // The server goes silent with the connection open: the next beat that asks is owed a reply, and stays owed.
    answering = false;
    let n = beats().length;
    let askedAt: number | null = null;
    for (let i = 0; i < ACK_EVERY; i++) {
      await tick(++n);
      if (beats().at(-1)!.wantAck && askedAt === null) askedAt = clock.now();
    }
    assert.notEqual(askedAt, null, `one of ${ACK_EVERY} beats asks`);
    assert.equal(link.unansweredSince, askedAt, 'owed since the beat that asked');
    assert.equal(link.isConnected, true, 'silence alone does not drop the link at once');
    assert.equal(link.disconnectedSince, null);

    // Redial once the reply has been owed for SILENT_INTERVALS_BEFORE_REDIAL intervals.
    clock.advance(askedAt! + SILENT_INTERVALS_BEFORE_REDIAL * interval - clock.now() - 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(link.isConnected, true, 'not a moment before');
    clock.advance(1);
    await waitFor(() => conns[0]!.closed && !link.isConnected, { what: 'the silent connection dropped' });
    assert.equal(link.disconnectedSince, askedAt, 'down since the server stopped answering, not since the drop');
    assert.equal(link.unansweredSince, null);

    answering = true;
    clock.advance(30_000); // the reconnect backoff
    await waitFor(() => conns.length === 2 && link.isConnected, { what: 'dialled again and welcomed' });
    assert.equal(link.disconnectedSince, null);
  } finally {
    // The stop's waits run on the injected clock too: move it until the link is down.
    const stopping = link.stop('test', 200);
    const mover = setInterval(() => clock.advance(200), 10);
    await stopping;
    clearInterval(mover);
    close();
  }
});
