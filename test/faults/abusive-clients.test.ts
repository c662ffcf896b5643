/**
 * Slow and abusive clients against a real `serve`: TCP peers that never
 * finish the TLS handshake, a thousand connections without a certificate,
 * and a 100 MB frame. Each is dropped and counted in /metrics, and agents
 * that behave keep their connection and their acks throughout.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { initServer, startServer, type TestServer } from '../helpers/cluster.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { alive, enrollDirect, type Identity, metricsToken, openWs, RawAgent, scrape } from './fault-kit.ts';

const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

/** TCP connections that send the first bytes of a ClientHello record and then nothing. */
async function neverFinishHandshake(port: number, n: number): Promise<number> {
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((res) => {
          const s = netConnect(port, '127.0.0.1', () => {
            s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
            res(s);
          });
          s.on('error', () => {});
        }),
    ),
  );
  const t0 = Date.now();
  await Promise.all(socks.map(closed));
  return Date.now() - t0;
}

/** TLS connections without a client certificate: half ask for the agent WebSocket, half sit idle. */
async function noCertificate(server: TestServer, ca: string, n: number): Promise<{ refused401: number; closed: number }> {
  let refused401 = 0;
  let done = 0;
  const one = (i: number) =>
    new Promise<void>((res) => {
      const s = tlsConnect({ host: '127.0.0.1', port: server.port, ca, servername: '' }, () => {
        if (i % 2 === 0)
          s.write(
            'GET /agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
      });
      s.on('data', (d) => {
        if (d.toString().startsWith('HTTP/1.1 401')) refused401++;
      });
      s.on('error', () => {});
      s.on('close', () => {
        done++;
        res();
      });
    });
  // 100 at a time: the point is the count, not a SYN flood of our own loopback.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    pending.push(one(i));
    if (pending.length % 100 === 0) await sleep(50);
  }
  await Promise.all(pending);
  return { refused401, closed: done };
}

test('abusive clients are dropped, counted, and agents are not disturbed', { timeout: 120_000 }, async () => {
  const init = initServer();
  const ids = await enrollDirect(init.dir, ['good-1', 'good-2', 'big-frame']);
  const server = await startServer(init);
  const token = metricsToken(init.dir);
  try {
    const good = ids.slice(0, 2).map((id) => new RawAgent(id, () => server.port, { everyMs: 200, intervalMs: 1000 }).start());
    await waitFor(() => good.every((g) => g.up), { what: 'good agents up' });

    // Run the slow ones side by side: each waits on a server timeout.
    const [handshakeMs, nocert] = await Promise.all([neverFinishHandshake(server.port, 50), noCertificate(server, ids[0]!.ca, 1000)]);
    console.log(`50 never-finished handshakes dropped within ${handshakeMs} ms; 1000 uncertified connections: ${nocert.refused401} got 401, all ${nocert.closed} closed`);
    assert.equal(nocert.closed, 1000);

    // A 100 MB frame from an authenticated agent: ws refuses it from the header (close 1009).
    const big: Identity = ids[2]!;
    const ws = await openWs(server.port, big);
    const code = await new Promise<number>((res) => {
      ws.on('close', (c) => res(c));
      ws.on('error', () => {});
      ws.send(Buffer.alloc(100 * 1024 * 1024, 0x61), { binary: false });
    });
    assert.equal(code, 1009);

    // A 100 MB enrollment body without a certificate: refused after 32 KiB.
    const status = await new Promise<number | string>((res) => {
      const req = request(
        { host: '127.0.0.1', port: server.port, path: '/enroll', method: 'POST', ca: ids[0]!.ca, servername: '', headers: { 'content-length': 100 * 1024 * 1024 } },
        (r) => {
          r.resume();
          res(r.statusCode!);
        },
      );
      req.on('error', (e) => res(e.message));
      const chunk = Buffer.alloc(1024 * 1024, 0x7b);
      let sent = 0;
      const pump = () => {
        while (sent < 100 && req.write(chunk)) sent++;
        if (sent < 100)
          req.once('drain', () => {
            sent++;
            pump();
          });
        else req.end();
      };
      pump();
    });
    assert.ok(status === 413 || /EPIPE|ECONNRESET|socket hang up/.test(String(status)), `enroll with 100 MB answered ${status}`);

    const m = await scrape(server.dashboardPort, token);
    const refused = (r: string) => m.get(`tripwarden_connections_refused_total{reason="${r}"}`) ?? 0;
    console.log(
      `refused: ${[...m]
        .filter(([k]) => k.startsWith('tripwarden_connections_refused_total'))
        .map(([k, v]) => `${/reason="(.*)"/.exec(k)![1]}=${v}`)
        .join(' ')}`,
    );
    assert.ok(refused('handshake-timeout') >= 50);
    assert.ok(refused('no-certificate') + refused('idle-unauthenticated') + refused('too-many-unauthenticated') + refused('rate-limited') >= 1000);
    assert.ok((m.get('tripwarden_connections_dropped_total{reason="frame-too-large"}') ?? 0) >= 1);

    // The service is unaffected: same connections, still acknowledged, and new agents get in.
    const before = good.map((g) => g.acks);
    await sleep(600);
    for (const [i, g] of good.entries()) {
      assert.equal(g.connects, 1, `${g.id.host} lost its connection`);
      assert.ok(g.acks > before[i]!, `${g.id.host} is no longer acknowledged`);
    }
    (await openWs(server.port, big)).terminate();
    assert.ok(alive(server.proc.pid));
    for (const g of good) g.stop();
  } finally {
    await server.stop();
  }
});
