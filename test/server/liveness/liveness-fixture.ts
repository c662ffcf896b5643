import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { InstanceLease } from '../../../server/liveness/instance-lease.ts';
import { Liveness, type LivenessConfig } from '../../../server/liveness/liveness.ts';
import type { EngineName, SqlDb } from '../../../server/storage/engine.ts';
import { openTestDb, type TestDb } from '../../helpers/engines.ts';
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

/**
 * Instance `alpha` on a fresh store of `engine` (added to `stores`, for the caller's cleanup): its liveness
 * (grace 5 s) and its lease, acquired, telling liveness of the database's outages. Returns them with the times
 * of what the lease told: `downs` (storeDown's `since`), `backs` (storeBack), `answers` (storeAnswers).
 */
export async function leasedInstance(engine: EngineName, stores: TestDb[]) {
  const t = await openTestDb(engine);
  stores.push(t);
  const s = livenessFixture(t.db, { graceMs: 5_000, maxIntervalMs: 300_000, instance: 'alpha' });
  const downs: number[] = [];
  const backs: number[] = [];
  const answers: number[] = [];
  const lease = new InstanceLease(t.db, s.alarms, {
    name: 'alpha',
    clock: s.clock,
    spare: (i, now, q) => s.liveness.spareHostsOf(i, now, q),
    outage: {
      storeDown: (since) => {
        downs.push(since);
        s.liveness.storeDown(since);
      },
      storeBack: (at) => {
        backs.push(at);
        s.liveness.storeBack(at);
      },
      storeAnswers: (at) => {
        answers.push(at);
        s.liveness.storeAnswers(at);
      },
    },
  });
  await lease.acquire(async () => {});
  return { t, s, lease, downs, backs, answers };
}
