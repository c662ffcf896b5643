import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { Liveness, type LivenessConfig } from '../../../server/liveness/liveness.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

/** The liveness stores over `db` (either engine), on a fake clock, with the helpers the liveness tests share. */
export function livenessFixture(db: SqlDb, cfg: LivenessConfig = { graceMs: 5_000, maxIntervalMs: 300_000 }, clock = new FakeClock()) {
  const alarms = new AlarmStore(db);
  const hosts = new HostStore(db);
  const rollup = new HeartbeatRollup(db, clock);
  const liveness = new Liveness(db, { alarms, hosts, rollup }, clock, cfg);
  const addHost = (host: string, serial = 'AA') =>
    db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', ?, ?)`, [host, serial, clock.now()]);
  const openKinds = async (host: string) => (await alarms.list({ open: true, host })).map((a) => a.kind).sort();
  /** The host as stored; fails the test when it is not there. */
  const host = async (name: string) => {
    const h = await hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  };
  return { db, clock, alarms, liveness, hosts, rollup, addHost, openKinds, host };
}
