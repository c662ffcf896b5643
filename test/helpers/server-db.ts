import { join } from 'node:path';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { type Db, openDatabase } from '../../server/storage/db.ts';
import { FakeClock } from './fake-clock.ts';
import { tempDir } from './temp.ts';

/** A real SQLite file with every migration, the stores over it, and a fake clock. */
export function serverDb(cfg = { graceMs: 5_000, maxIntervalMs: 300_000 }) {
  const db: Db = openDatabase(join(tempDir('tw-db-'), 'test.db'));
  const clock = new FakeClock();
  const alarms = new AlarmStore(db);
  const hosts = new HostStore(db);
  const rollup = new HeartbeatRollup(db, clock);
  const liveness = new Liveness(db, { alarms, hosts, rollup }, clock, cfg);
  const addHost = (host: string) => db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`).run(host, clock.now());
  const openKinds = (host: string) =>
    alarms
      .list({ open: true, host })
      .map((a) => a.kind)
      .sort();
  return { db, clock, alarms, liveness, hosts, rollup, addHost, openKinds };
}

export const BOOT = '11111111-2222-4333-8444-555555555555';
export const helloMsg = (seq = 0, interval = 10_000, bootId = BOOT) => ({ bootId, seq, interval, agentVersion: 't', facts: {} });
