import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../server/baselines/baseline-store.ts';
import { EventLedger } from '../../server/baselines/event-ledger.ts';
import { GroupPeers } from '../../server/fleet/fleet-peers.ts';
import type { SqlDb } from '../../server/storage/engine.ts';
import type { FakeClock } from './fake-clock.ts';

/** The event ledger over `db` with the stores it judges through, and `host` enrolled (pending) at the clock's now. */
export async function ledgerWithHost(db: SqlDb, clock: FakeClock, host = 'web1'): Promise<{ alarms: AlarmStore; ledger: EventLedger }> {
  const alarms = new AlarmStore(db);
  await db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [host, clock.now()]);
  return { alarms, ledger: new EventLedger(db, alarms, new BaselineStore(db, alarms, new GroupPeers(db))) };
}
