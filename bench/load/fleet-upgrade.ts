/**
 * A package upgrade across one group: N hosts share a group and a baseline of
 * one binary, then each host's agent reports the new content (one event each,
 * through BaselineStore.applyEvent, as the server applies it). Prints the
 * server CPU per event at the start, middle and end of the rollout: judging
 * a change against its group used to walk every host that has the path.
 * A real SQLite file, the real migrations.
 *
 * `node --import tsx bench/load/fleet-upgrade.ts [N=10000]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../server/fleet/fleet-peers.ts';
import { openDatabase } from '../../server/storage/db.ts';
import { SqliteDb } from '../../server/storage/sqlite-engine.ts';
import type { FileEntry } from '../../shared/protocol.ts';

const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'tw-upgrade-'));
const db = openDatabase(join(dir, 'server.db'));
const sql = new SqliteDb(db);
const store = new BaselineStore(sql, new AlarmStore(sql), new GroupPeers(sql));
const file = (sha: string): FileEntry => ({
  path: '/usr/sbin/cron',
  class: 'critical',
  type: 'file',
  sha256: sha.repeat(64),
  size: 1000,
  mode: 0o100755,
  uid: 0,
  gid: 0,
  ino: '1',
  nlink: 1,
  mtime: '1',
  ctime: '1',
});
const ins = db.prepare(`INSERT INTO hosts (host, grp, state, enrolled_at) VALUES (?, 'web', 'active', 0)`);
db.transaction(() => {
  for (let i = 0; i < N; i++) ins.run(`h${i}`);
})();
for (let i = 0; i < N; i++) await store.applyReport(`h${i}`, { files: [file('a')], daemons: [], mounts: [] }, 1);

const ms: number[] = [];
for (let i = 0; i < N; i++) {
  const t = process.cpuUsage();
  await store.applyEvent(`h${i}`, { files: [file('b')], gone: [], daemons: [], mounts: [] }, 2);
  const d = process.cpuUsage(t);
  ms.push((d.user + d.system) / 1000);
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const slice = (a: number, b: number) => mean(ms.slice(Math.floor(a * N), Math.max(Math.floor(a * N) + 1, Math.floor(b * N))));
const alarms = db.prepare(`SELECT COUNT(*) FROM alarms WHERE kind = 'file-changed'`).pluck().get() as number;
console.log(
  JSON.stringify({
    hosts: N,
    cpuMsPerEvent: { first10pct: slice(0, 0.1), middle10pct: slice(0.45, 0.55), last10pct: slice(0.9, 1), all: mean(ms) },
    totalCpuS: ms.reduce((s, x) => s + x, 0) / 1000,
    fileChangedAlarms: alarms,
  }),
);
db.close();
rmSync(dir, { recursive: true, force: true });
