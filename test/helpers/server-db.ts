import { join } from 'node:path';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { type Db, openDatabase } from '../../server/storage/db.ts';
import { SqliteDb } from '../../server/storage/sqlite-engine.ts';
import { FakeClock } from './fake-clock.ts';
import { tempDir } from './temp.ts';

/**
 * A real SQLite file with every migration, the stores over it, and a fake clock: `sql` is the async API the
 * stores use, `db` the raw handle on the same connection (for tests that read SQLite itself).
 */
export function serverDb(cfg = { graceMs: 5_000, maxIntervalMs: 300_000 }) {
  const db: Db = openDatabase(join(tempDir('tw-db-'), 'test.db'));
  const sql = new SqliteDb(db);
  const clock = new FakeClock();
  const alarms = new AlarmStore(sql);
  const hosts = new HostStore(sql);
  const rollup = new HeartbeatRollup(sql, clock);
  const liveness = new Liveness(sql, { alarms, hosts, rollup }, clock, cfg);
  const addHost = (host: string) => sql.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [host, clock.now()]);
  const openKinds = async (host: string) => (await alarms.list({ open: true, host })).map((a) => a.kind).sort();
  return { db, sql, clock, alarms, liveness, hosts, rollup, addHost, openKinds };
}

export const BOOT = '11111111-2222-4333-8444-555555555555';
export const helloMsg = (seq = 0, interval = 10_000, bootId = BOOT) => ({ bootId, seq, interval, agentVersion: 't', facts: {} });
