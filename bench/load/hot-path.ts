/**
 * Micro-benchmark of the heartbeat hot path without the network:
 * `Liveness.heartbeat` (and the frame validation before it) on a real store
 * with N hosts, the way `AgentSession` calls them, alone and grouped by the
 * `HeartbeatBatcher` (one transaction per batch). Prints µs per beat.
 *
 * `node --import tsx bench/load/hot-path.ts [hosts] [beats] [postgres://...]` (no URL: a temp SQLite file;
 * a URL: that PostgreSQL database, which it fills with hosts: give it an empty one)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { HeartbeatBatcher } from '../../server/gateway/heartbeat-batcher.ts';
import { HelloBatcher } from '../../server/gateway/hello-batcher.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { PG_MIGRATIONS } from '../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../server/storage/open-db.ts';
import { SqliteDb } from '../../server/storage/sqlite-engine.ts';
import { AgentMessage, parseFrame } from '../../shared/protocol.ts';

const hosts = Number(process.argv[2] ?? 10_000);
const beats = Number(process.argv[3] ?? 100_000);
const sql = openSqlDb(process.argv[4] ?? join(mkdtempSync(join(tmpdir(), 'tw-hot-')), 'hot.db'), PG_MIGRATIONS);
await sql.ready();
if (sql instanceof SqliteDb) {
  if (process.env.CACHE_SIZE) sql.handle.pragma(`cache_size = ${Number(process.env.CACHE_SIZE)}`);
  if (process.env.WAL_AUTOCHECKPOINT) sql.handle.pragma(`wal_autocheckpoint = ${Number(process.env.WAL_AUTOCHECKPOINT)}`);
}
let now = Date.now();
const clock = { now: () => now, setTimeout, clearTimeout } as never;
const live = new Liveness(sql, { alarms: new AlarmStore(sql), hosts: new HostStore(sql), rollup: new HeartbeatRollup(sql, clock) }, clock, {
  graceMs: 5000,
  maxIntervalMs: 300_000,
});
const boot = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
await sql.tx(async (tx) => {
  for (let i = 0; i < hosts; i++) await tx.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [`h${i}`, now]);
});
for (let i = 0; i < hosts; i++) {
  await live.hello(`h${i}`, {
    bootId: boot(i),
    seq: 0,
    interval: 10_000,
    agentVersion: 'x',
    facts: { hostname: `host-${i}.example.net`, os: 'linux', release: '6.1.0-18-amd64', arch: 'x64', runtime: 'node 24.21.0', uptimeSec: 86400 },
  });
}
const seqs = new Array(hosts).fill(0);

async function run(label: string, fn: (i: number) => unknown): Promise<void> {
  const t = process.hrtime.bigint();
  // Agents' phases are spread: beats arrive in no particular host order.
  for (let k = 0; k < beats; k++) await fn((k * 7919) % hosts);
  const us = Number(process.hrtime.bigint() - t) / 1e3 / beats;
  console.log(`${label} [${sql.engine}]: ${us.toFixed(1)} µs per beat`);
}

await run('parseFrame(heartbeat)', (i) => {
  parseFrame(AgentMessage, JSON.stringify({ type: 'heartbeat', bootId: boot(i), seq: 1, sentAt: now }));
});
await run('Liveness.heartbeat', async (i) => {
  now += 1;
  if ((await live.heartbeat(`h${i}`, boot(i), ++seqs[i])) !== 'ok') throw new Error('not ok');
});
// The same beats through the batcher, `size` per transaction (a full batch commits at once).
for (const size of [8, 256]) {
  const batcher = new HeartbeatBatcher(live, clock, { windowMs: 60_000, maxBatch: size });
  const t = process.hrtime.bigint();
  let failed = 0;
  for (let k = 0; k < beats; k++) {
    const i = (k * 7919) % hosts;
    now += 1;
    batcher.submit(`h${i}`, boot(i), ++seqs[i], (r) => void (r !== 'ok' && failed++));
    if (k % size === size - 1) await batcher.flush();
  }
  await batcher.flush();
  if (failed) throw new Error(`${failed} beats not ok`);
  console.log(`HeartbeatBatcher, ${size} per commit [${sql.engine}]: ${(Number(process.hrtime.bigint() - t) / 1e3 / beats).toFixed(1)} µs per beat`);
}
await hellos();
await sql.close();

/** The reconnect storm's store side: every host says hello again (a new boot), alone and in groups of 64. */
async function hellos(): Promise<void> {
  const facts = { hostname: 'host.example.net', os: 'linux', release: '6.1.0-18-amd64', arch: 'x64', runtime: 'node 24.21.0', uptimeSec: 86400 };
  const reboot = (i: number, round: number) => `${String(round).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
  let t = process.hrtime.bigint();
  for (let i = 0; i < hosts; i++) {
    now += 1;
    if ((await live.hello(`h${i}`, { bootId: reboot(i, 1), seq: 0, interval: 10_000, agentVersion: 'x', facts })) !== 'ok') throw new Error('hello not ok');
  }
  console.log(`Liveness.hello, each its own commit [${sql.engine}]: ${(Number(process.hrtime.bigint() - t) / 1e3 / hosts).toFixed(1)} µs per hello`);
  const group = new HelloBatcher({ sql, liveness: live, clock }, { windowMs: 60_000, maxBatch: 64 });
  t = process.hrtime.bigint();
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < hosts; i++) {
    now += 1;
    all.push(group.submit(`h${i}`, { bootId: reboot(i, 2), seq: 0, interval: 10_000, agentVersion: 'x', facts }));
    if (i % 64 === 63) await group.flush();
  }
  await group.flush();
  if ((await Promise.all(all)).some((r) => (r as { result: string }).result !== 'ok')) throw new Error('hello not ok');
  console.log(`HelloBatcher, 64 per commit [${sql.engine}]: ${(Number(process.hrtime.bigint() - t) / 1e3 / hosts).toFixed(1)} µs per hello`);
}
