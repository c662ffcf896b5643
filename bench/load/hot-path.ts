/**
 * Micro-benchmark of the heartbeat hot path without the network:
 * `Liveness.heartbeat` (and the frame validation before it) on a real SQLite
 * file with N hosts, the way `AgentSession` calls them. Prints µs per beat.
 *
 * `node --import tsx bench/load/hot-path.ts [hosts] [beats]`
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { openDatabase } from '../../server/storage/db.ts';
import { AgentMessage, parseFrame } from '../../shared/protocol.ts';

const hosts = Number(process.argv[2] ?? 10_000);
const beats = Number(process.argv[3] ?? 100_000);
const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'tw-hot-')), 'hot.db'));
if (process.env.CACHE_SIZE) db.pragma(`cache_size = ${Number(process.env.CACHE_SIZE)}`);
if (process.env.WAL_AUTOCHECKPOINT) db.pragma(`wal_autocheckpoint = ${Number(process.env.WAL_AUTOCHECKPOINT)}`);
let now = Date.now();
const clock = { now: () => now } as never;
const live = new Liveness(db, { alarms: new AlarmStore(db), hosts: new HostStore(db), rollup: new HeartbeatRollup(db, clock) }, clock, { graceMs: 5000, maxIntervalMs: 300_000 });
const ins = db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`);
const boot = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
db.transaction(() => {
  for (let i = 0; i < hosts; i++) ins.run(`h${i}`, now);
})();
for (let i = 0; i < hosts; i++)
  live.hello(`h${i}`, {
    bootId: boot(i),
    seq: 0,
    interval: 10_000,
    agentVersion: 'x',
    facts: { hostname: `host-${i}.example.net`, os: 'linux', release: '6.1.0-18-amd64', arch: 'x64', runtime: 'node 24.21.0', uptimeSec: 86400 },
  });
const seqs = new Array(hosts).fill(0);

function run(label: string, fn: (i: number) => void): void {
  const t = process.hrtime.bigint();
  // Agents' phases are spread: beats arrive in no particular host order.
  for (let k = 0; k < beats; k++) fn((k * 7919) % hosts);
  const us = Number(process.hrtime.bigint() - t) / 1e3 / beats;
  console.log(`${label}: ${us.toFixed(1)} µs per beat`);
}

run('parseFrame(heartbeat)', (i) => {
  parseFrame(AgentMessage, JSON.stringify({ type: 'heartbeat', bootId: boot(i), seq: 1, sentAt: now }));
});
run('Liveness.heartbeat', (i) => {
  now += 1;
  if (live.heartbeat(`h${i}`, boot(i), ++seqs[i]) !== 'ok') throw new Error('not ok');
});
// The same beats committed eight at a time (what a short group-commit window would do).
const batch = db.transaction((i0: number) => {
  for (let j = 0; j < 8; j++) {
    const i = (i0 + j) % hosts;
    now += 1;
    live.heartbeat(`h${i}`, boot(i), ++seqs[i]);
  }
});
{
  const t = process.hrtime.bigint();
  for (let k = 0; k < beats; k += 8) batch(k);
  console.log(`Liveness.heartbeat, 8 per commit: ${(Number(process.hrtime.bigint() - t) / 1e3 / beats).toFixed(1)} µs per beat`);
}
