/**
 * Fuzzes the server's message handling with a real `serve`: random bytes,
 * mutated valid frames, and schema-valid but hostile values, from an
 * authenticated agent, for a bounded time. The server must not crash, its
 * memory must stay bounded, and well-behaved agents must not notice.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { initServer, startServer } from '../helpers/cluster.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { alive, enrollDirect, metricsToken, openWs, RawAgent, rssMiB, scrape } from './fault-kit.ts';

const FUZZ_MS = Number(process.env.TW_FUZZ_MS ?? 12_000);

/** A small seeded PRNG so a failing run can be replayed with TW_FUZZ_SEED. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);

/** Values that are valid JSON and often schema-shaped but hostile. */
const HOSTILE: unknown[] = [
  -1,
  -0,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 64,
  0.5,
  Number.MAX_SAFE_INTEGER,
  8.64e15,
  8.64e15 + 1,
  1e20,
  '',
  'x'.repeat(60_000),
  '\u0000',
  '\ud800',
  '💣'.repeat(1000),
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%s%n%x',
  null,
  true,
  [],
  {},
  [[[[[]]]]],
  { __proto__: { polluted: 1 } },
  { constructor: { prototype: { x: 1 } } },
  JSON.parse(deep(2000, '[', ']')),
  JSON.parse(`${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}`),
];

function validFrames(bootId: string, seq: number): Record<string, unknown>[] {
  return [
    {
      type: 'hello',
      bootId,
      seq,
      sentAt: Date.now(),
      protocol: 1,
      agentVersion: 'fuzz',
      interval: 1000,
      facts: { hostname: 'f', os: 'linux', release: '6', arch: 'x64', runtime: 'x', uptimeSec: 1 },
    },
    { type: 'heartbeat', bootId, seq, sentAt: Date.now() },
    { type: 'goodbye', bootId, seq, sentAt: Date.now(), reason: 'fuzz' },
  ];
}

function mutate(rnd: () => number, bootId: string, seq: number): string | Buffer {
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const r = rnd();
  if (r < 0.08) return randomBytes(Math.floor(rnd() * 2048)); // binary frame
  if (r < 0.16) return randomBytes(Math.floor(rnd() * 2048)).toString('latin1'); // text garbage
  if (r < 0.22) return deep(20_000, '[', ']'); // deep nesting, under the frame limit
  if (r < 0.26) return `{"type":"heartbeat","x":${deep(15_000, '{"a":', '}').replace(/\}+$/, (m) => `1${m}`)}}`;
  if (r < 0.3) return 'x'.repeat(70_000); // over the 64 KiB frame limit
  const f = structuredClone(pick(validFrames(bootId, seq)));
  const keys = Object.keys(f);
  if (r < 0.45)
    f[pick(keys)] = pick(HOSTILE); // a hostile value in a known field
  else if (r < 0.55) ((f.facts as Record<string, unknown> | undefined) ?? f)[pick(['hostname', 'os', 'uptimeSec', 'nodeOptions'])] = pick(HOSTILE);
  else if (r < 0.62) f[pick(['__proto__', 'constructor', 'extra', 'host', 'type'])] = pick(HOSTILE);
  else if (r < 0.7) delete f[pick(keys)];
  else if (r < 0.76) f.type = pick(['welcome', 'ack', 'HELLO', '', 'heartbeat ', 'toString']);
  else if (r < 0.82) f.seq = pick([-1, -(2 ** 53), 1.5, 2 ** 60, 0]);
  else if (r < 0.88) f.sentAt = pick([8.64e15, 1e300, -1, 4102444800000]);
  const text = JSON.stringify(f);
  if (r >= 0.94) return text.slice(0, Math.floor(rnd() * text.length)); // truncated
  return text;
}

test('fuzzed frames never crash the server, memory stays bounded, other agents are unaffected', { timeout: 90_000 }, async () => {
  const init = initServer();
  const ids = await enrollDirect(init.dir, ['good-1', 'good-2', 'good-3', 'fuzz-1']);
  const server = await startServer(init);
  const token = metricsToken(init.dir);
  try {
    const good = ids.slice(0, 3).map((id) => new RawAgent(id, () => server.port, { everyMs: 200, intervalMs: 1000 }).start());
    await waitFor(() => good.every((g) => g.up), { what: 'good agents up' });
    const rss0 = rssMiB(server.proc.pid);
    const seed = Number(process.env.TW_FUZZ_SEED ?? Date.now() % 1e9);
    const rnd = prng(seed);
    const fuzzId = ids[3]!;
    const end = Date.now() + FUZZ_MS;
    let frames = 0;
    let conns = 0;
    let seq = 1;
    let rssMax = rss0;
    while (Date.now() < end) {
      let ws: WebSocket;
      try {
        ws = await openWs(server.port, fuzzId);
      } catch {
        await sleep(20);
        continue;
      }
      conns++;
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      ws.on('error', () => {});
      const bootId = `00000000-0000-4000-8000-${String(conns).padStart(12, '0')}`;
      // Half the connections start properly, so later frames reach the post-hello handlers.
      if (rnd() < 0.5) ws.send(JSON.stringify(validFrames(bootId, seq++)[0]));
      for (let i = 0; i < 20 && ws.readyState === WebSocket.OPEN; i++) {
        ws.send(rnd() < 0.2 ? JSON.stringify(validFrames(bootId, seq++)[1]) : mutate(rnd, bootId, seq++));
        frames++;
        await sleep(1);
      }
      if (ws.readyState === WebSocket.OPEN) ws.terminate();
      await Promise.race([closed, sleep(3000)]);
      rssMax = Math.max(rssMax, rssMiB(server.proc.pid));
      assert.ok(alive(server.proc.pid), `server died (seed ${seed})`);
    }
    const acksBefore = good.map((g) => g.acks);
    await sleep(1000);
    // The good agents kept their first connection and kept being acknowledged.
    for (const [i, g] of good.entries()) {
      assert.equal(g.connects, 1, `${g.id.host} had to reconnect (seed ${seed})`);
      assert.ok(g.acks > acksBefore[i]!, `${g.id.host} is no longer acknowledged (seed ${seed})`);
    }
    const m = await scrape(server.dashboardPort, token);
    const violations = [...m].filter(([k]) => k.startsWith('tripwarden_protocol_violations_total')).reduce((s, [, v]) => s + v, 0);
    console.log(`fuzz: seed ${seed}, ${frames} frames over ${conns} connections, ${violations} violations counted, server RSS ${rss0.toFixed(0)} → max ${rssMax.toFixed(0)} MiB`);
    assert.ok(violations > 0);
    assert.ok(rssMax - rss0 < 200, `server RSS grew by ${(rssMax - rss0).toFixed(0)} MiB`);
    const c = server.ctx();
    try {
      const goodAlarms = (await c.alarms.list({ open: true })).filter((a) => a.host.startsWith('good-'));
      assert.deepEqual(goodAlarms, []);
    } finally {
      await c.close();
    }
    for (const g of good) g.stop();
  } finally {
    await server.stop();
  }
});
