/**
 * `npm run bench:storage -- [--hosts 1000] [--days 30]`: the server database
 * after a simulated month, its size on disk and the time of the dashboard's
 * main queries.
 *
 * Written through the real code: `openDatabase` (every migration), hosts as
 * enrollment inserts them, `Liveness.hello`/`heartbeat` for the live state,
 * `AlarmStore.open`/`resolve` for alarms and their outbox events. The
 * per-minute heartbeat rollup is what Liveness writes (one row per host and
 * minute, `beats` = 6 at a 10 s interval); writing 260 million upserts one by
 * one would take an hour, so each minute's row is inserted once with its
 * final count. After each simulated day the dashboard's hourly job runs
 * (`pruneRollup`, and `compactRollup` unless --no-compact). Deliveries: one
 * `sent` mail delivery per alarm event.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { DashboardData } from '../../server/dashboard/dashboard-data.ts';
import { createMetrics } from '../../server/dashboard/metrics.ts';
import { HeartbeatRollup, MINUTE_ROLLUP_KEEP_MS } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { buildReport } from '../../server/reports/report.ts';
import { openDatabase } from '../../server/storage/db.ts';
import { SqliteDb } from '../../server/storage/sqlite-engine.ts';

const { values: a } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    days: { type: 'string', default: '30' },
    keep: { type: 'boolean', default: false },
    db: { type: 'string' },
    'no-compact': { type: 'boolean', default: false },
  },
});
const HOSTS = Number(a.hosts);
const DAYS = Number(a.days);
const MIN = 60_000;
const DAY = 86_400_000;
// --db FILE: time the queries on a database kept by an earlier run (--keep) instead of writing a new one.
const dir = a.db ? dirname(a.db) : mkdtempSync(join(tmpdir(), 'tw-storage-'));
const file = a.db ?? join(dir, 'tripwarden.db');
const log = (s: string) => console.error(`[storage] ${s}`);

// With --db, "now" is the end of the month that run wrote (its last heartbeat).
const end = a.db ? Math.floor((openDatabase(a.db).prepare('SELECT MAX(last_seen) t FROM hosts').get() as { t: number }).t / MIN) * MIN : Math.floor(Date.now() / MIN) * MIN;
const start = end - DAYS * DAY;
let now = start;
const clock = { now: () => now, setTimeout, clearTimeout, setInterval, clearInterval } as never;
const db = openDatabase(file);
// The stores' async API over the same connection; the bulk rows below go through the raw handle (SQLite only).
const store = new SqliteDb(db);
const alarms = new AlarmStore(store);
const hostsStore = new HostStore(store);
const heartbeats = new HeartbeatRollup(store, clock);
const live = new Liveness(store, { alarms, hosts: hostsStore, rollup: heartbeats }, clock, { graceMs: 5000, maxIntervalMs: 300_000 });
const names = Array.from({ length: HOSTS }, (_, i) => `host-${String(i).padStart(4, '0')}.example.net`);
const boot = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const facts = { hostname: 'h', os: 'linux', release: '6.1.0-18-amd64', arch: 'x64', runtime: 'node 24.21.0', uptimeSec: 86400 };

if (!a.db) await write();

async function write(): Promise<void> {
  const t0 = Date.now();
  const ins = db.prepare(`INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)`);
  db.transaction(() => names.forEach((h, i) => void ins.run(h, `group-${i % 10}`, start, 'A1B2C3D4E5F60718293A4B5C6D7E8F90', `${'AB:'.repeat(31)}AB`, start)))();
  for (const [i, h] of names.entries()) await live.hello(h, { bootId: boot(i), seq: 0, interval: 10_000, agentVersion: '0.1.0', facts });

  // The rollup: one row per host and minute, as Liveness's upsert leaves it.
  const rollup = db.prepare(`INSERT INTO heartbeat_minutes (host, minute, beats) VALUES (?, ?, ?) ON CONFLICT(host, minute) DO UPDATE SET beats = beats + excluded.beats`);
  const m0 = start / MIN;

  for (let d = 0; d < DAYS; d++) {
    db.transaction(() => {
      for (const h of names) for (let m = d * 1440; m < (d + 1) * 1440; m++) rollup.run(h, m0 + m, 6);
    })();
    // What the dashboard's hourly job does (here once a simulated day): prune past retention, fold old minutes into hours.
    const dayEnd = start + (d + 1) * DAY;
    await heartbeats.prune(dayEnd - 30 * DAY);
    if (!a['no-compact']) await heartbeats.compact(dayEnd - MINUTE_ROLLUP_KEEP_MS);
    if (d % 5 === 4) log(`day ${d + 1}: rollup rows ${((d + 1) * 1440 * HOSTS).toLocaleString('en')}`);
  }

  // Alarms: per host and day, an agent restart (disconnected, then resolved by the reconnect) and a file change,
  // accepted the next day; now and then a late spell. Each open and resolve also writes its outbox event.
  const deliver = `INSERT INTO deliveries (channel, event_id, state, attempts, next_attempt_at, sent_at) SELECT 'mail', id, 'sent', 1, at, at FROM alarm_events WHERE id > ?`;
  let lastEvent = 0;
  for (let d = 0; d < DAYS; d++) {
    await store.tx(async (tx) => {
      for (const [i, h] of names.entries()) {
        const t = start + d * DAY + ((i * 7919) % DAY);
        await alarms.open(h, 'agent-disconnected', 'connection closed without goodbye', t, { at: new Date(t).toISOString() }, undefined, tx);
        await alarms.resolve(h, 'agent-disconnected', t + 30_000, undefined, tx);
        await alarms.resolve(h, 'file-changed', t, undefined, tx);
        await alarms.open(h, 'file-changed', `/etc/cron.d/job-${d % 3}`, t + 60_000, { before: 'a'.repeat(64), after: 'b'.repeat(64) }, undefined, tx);
        if ((i + d) % 17 === 0) {
          await alarms.open(h, 'agent-missing', 'agent-missing', t + 3_600_000, { from: 'late', to: 'missing' }, undefined, tx);
          await alarms.resolve(h, 'agent-missing', t + 3_900_000, undefined, tx);
        }
      }
      await tx.run(deliver, [lastEvent]);
      lastEvent = (await tx.get<{ m: number }>('SELECT MAX(id) AS m FROM alarm_events'))!.m;
    });
  }
  // The live state at the end of the month: every host has just heartbeaten.
  now = end;
  for (const [i, h] of names.entries()) await live.heartbeat(h, boot(i), 1);
  // What the hourly prune would leave (retention 30 days by default).
  const pruned = await heartbeats.prune(end - 30 * DAY);
  db.pragma('wal_checkpoint(TRUNCATE)');
  log(`written in ${((Date.now() - t0) / 1000).toFixed(0)} s; pruned ${pruned} rollup rows`);
}

const size = statSync(file).size;
let tables: { name: string; bytes: number }[] = [];
try {
  tables = db.prepare(`SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC`).all() as typeof tables;
} catch {
  /* dbstat not compiled in */
}
const count = (t: string) => (db.prepare(`SELECT COUNT(*) n FROM ${t}`).get() as { n: number }).n;

async function time(label: string, fn: () => unknown): Promise<{ query: string; medianMs: number }> {
  await fn();
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = process.hrtime.bigint();
    await fn();
    runs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  runs.sort((x, y) => x - y);
  return { query: label, medianMs: Number(runs[3]!.toFixed(2)) };
}
const sql = new SqliteDb(db);
const data = new DashboardData(sql, hostsStore);
const metrics = createMetrics({ sql, hosts: hostsStore, clock, beatsReceived: () => 0, connectedAgents: () => HOSTS });
const queries = [
  await time('hosts page: DashboardData.hostRows (every host + 60-minute bar)', () => data.hostRows(end)),
  await time('live feed change check: DashboardData.fingerprint', () => data.fingerprint()),
  await time('open alarms: DashboardData.alarms({state: open})', () => data.alarms({ state: 'open' })),
  await time('all alarms, newest 500: DashboardData.alarms({state: all})', () => data.alarms({ state: 'all' })),
  await time("one host's alarms: DashboardData.alarms({host, state: all})", () => data.alarms({ host: names[500]!, state: 'all' })),
  await time('hosts --json: HostStore.views', () => hostsStore.views(end)),
  await time('report --since 24h: buildReport', () => buildReport(sql, hostsStore, end - DAY, end)),
  await time('report --since 30d: buildReport', () => buildReport(sql, hostsStore, end - 30 * DAY, end)),
  await time('/metrics scrape', () => metrics.metrics()),
];
const result = {
  hosts: HOSTS,
  days: DAYS,
  fileBytes: size,
  fileMiB: Number((size / 1048576).toFixed(1)),
  rows: { hosts: count('hosts'), heartbeat_minutes: count('heartbeat_minutes'), alarms: count('alarms'), alarm_events: count('alarm_events'), deliveries: count('deliveries') },
  tablesMiB: Object.fromEntries(tables.slice(0, 8).map((t) => [t.name, Number((t.bytes / 1048576).toFixed(1))])),
  rollupMinutesPerHost: DAYS * 1440,
  queries,
};
console.log(JSON.stringify(result, null, 2));
db.close();
if (!a.keep && !a.db) rmSync(dir, { recursive: true, force: true });
else log(`kept ${file}`);
