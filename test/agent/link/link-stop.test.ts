/**
 * The link's stop in the window between `hello` and `welcome`: the server
 * already counts the agent as up, so a stop must still say goodbye, or a
 * deliberate `systemctl stop` reads as a crash (agent-disconnected).
 * Real mutual TLS on loopback; the "server" is a bare ws endpoint that holds
 * its welcome until the test lets it go.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { AgentLink } from '../../../agent/link/agent-link.ts';
import { systemClock } from '../../../shared/clock.ts';
import { createLogger, silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { linkPeer } from '../../helpers/link-peer.ts';
import { waitFor } from '../../helpers/wait.ts';

test('a stop after hello but before welcome still sends goodbye, and no heartbeat follows it', async () => {
  const { wss, url, identity, close } = await linkPeer('kilo');
  const got: { type: string; seq: number }[] = [];
  let peer: WebSocket | undefined;
  wss.on('connection', (ws) => {
    peer = ws;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; seq: number };
      got.push(m);
      if (m.type === 'goodbye') ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
  });
  const link = new AgentLink({
    url,
    identity,
    clock: systemClock,
    log: silentLogger(),
    intervalMs: 50,
    jitterMs: 0,
    agentVersion: 't',
    facts: () => ({ hostname: 'kilo', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  try {
    link.start();
    await waitFor(() => got.some((m) => m.type === 'hello'), { what: 'hello' });
    const stopped = link.stop('test');
    // The welcome arrives after the stop began (the server read hello, then the goodbye).
    peer!.send(JSON.stringify({ type: 'welcome', host: 'kilo', serverTime: Date.now(), interval: 50 }));
    await stopped;
    assert.deepEqual(
      got.map((m) => m.type),
      ['hello', 'goodbye'],
      'goodbye sent; no heartbeat after the late welcome',
    );
    assert.ok(got[1]!.seq > got[0]!.seq);
  } finally {
    close();
  }
});

test('a goodbye the server never acknowledges is waited for until the deadline on the injected clock, then the link closes', async () => {
  const { wss, url, identity, close } = await linkPeer('lima');
  const got: string[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string };
      got.push(m.type);
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', host: 'lima', serverTime: Date.now(), interval: 60_000 }));
      // No ack for the goodbye: a server that hears but does not answer.
    });
  });
  const clock = new FakeClock();
  const link = new AgentLink({
    url,
    identity,
    clock,
    log: silentLogger(),
    intervalMs: 60_000,
    jitterMs: 0,
    agentVersion: 't',
    facts: () => ({ hostname: 'lima', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  try {
    link.start();
    await waitFor(() => link.isConnected, { what: 'welcomed' });
    let done = false;
    const stopped = link.stop('test', 5_000).then(() => {
      done = true;
    });
    await waitFor(() => got.includes('goodbye'), { what: 'goodbye sent' });
    clock.advance(4_999);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'still waiting for the ack a moment before the deadline');
    clock.advance(1);
    await stopped;
    assert.equal(done, true);
  } finally {
    close();
  }
});

test('a dial that throws before it has a socket is logged and tried again on the clock, not thrown out of the timer', () => {
  const lines: string[] = [];
  const log = createLogger('test', {
    destination: {
      write: (l: string) => {
        lines.push(l);
      },
    },
  });
  const clock = new FakeClock();
  const link = new AgentLink({
    url: 'wss://127.0.0.1:1',
    identity: { keyPem: 'not a key', certPem: 'not a certificate', caPem: 'not a CA' },
    clock,
    log,
    intervalMs: 1000,
    jitterMs: 0,
    agentVersion: 't',
    facts: () => ({ hostname: 'mike', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  link.start();
  assert.equal(lines.filter((l) => l.includes('cannot dial the server')).length, 1);
  clock.advance(60_000);
  assert.ok(lines.filter((l) => l.includes('cannot dial the server')).length > 1, 'tried again after the backoff');
  void link.stop('test');
});
