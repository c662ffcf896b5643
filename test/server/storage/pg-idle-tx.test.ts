/**
 * An instance frozen inside a PostgreSQL transaction (SIGSTOP between two of its statements) holds its row
 * locks until PostgreSQL ends its session: `idle_in_transaction_session_timeout`. Without it a survivor's write
 * to the same row waited for as long as the freeze lasted. The frozen side's transaction is rolled back (its
 * write is not stored) and fails as TW_DB_UNAVAILABLE when it resumes; its pool serves the next statement.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { IDLE_TX_TIMEOUT_MS, PgDb } from '../../../server/storage/pg-engine.ts';
import { freshPgDatabase, PG_SKIP } from '../../helpers/engines.ts';

const opts = PG_SKIP ? { skip: PG_SKIP } : {};

test('a session idle inside a transaction is ended: the row lock it held is free for another instance', opts, async () => {
  assert.ok(IDLE_TX_TIMEOUT_MS <= 10_000, 'no longer than the lease takes to declare a silent instance down');
  const fresh = await freshPgDatabase();
  const frozen = new PgDb(fresh.url, { poolSize: 1, idleTxTimeoutMs: 400 });
  const survivor = new PgDb(fresh.url, { poolSize: 1 });
  after(async () => {
    await frozen.close().catch(() => {});
    await survivor.close();
    await fresh.drop();
  });
  await survivor.run('CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL)');
  await survivor.run(`INSERT INTO leases VALUES ('alpha', 'alpha')`);

  let locked!: () => void;
  const haveLock = new Promise<void>((r) => {
    locked = r;
  });
  let thaw!: () => void;
  const thawed = new Promise<void>((r) => {
    thaw = r;
  });
  // The frozen instance: takes the row lock, then its process stops before its next statement.
  const frozenTx = frozen.tx(async (tx) => {
    await tx.run(`UPDATE leases SET holder = 'alpha-frozen' WHERE name = 'alpha'`);
    locked();
    await thawed;
    await tx.run(`UPDATE leases SET holder = 'alpha-late' WHERE name = 'alpha'`);
  });
  const frozenOutcome = frozenTx.then(
    () => 'committed',
    (err: Error & { code?: string }) => err.code ?? err.message,
  );
  await haveLock;
  // The survivor declares it down: a write to the locked row. It waits only until PostgreSQL ends the session.
  assert.equal(await survivor.run(`UPDATE leases SET holder = 'bravo' WHERE name = 'alpha' AND holder = 'alpha'`), 1);
  assert.deepEqual(await survivor.get('SELECT holder FROM leases'), { holder: 'bravo' }, 'the frozen write was rolled back');

  thaw();
  assert.equal(await frozenOutcome, 'TW_DB_UNAVAILABLE', 'the resumed transaction fails as the database being unreachable');
  assert.deepEqual(await survivor.get('SELECT holder FROM leases'), { holder: 'bravo' }, 'nothing of it is stored');
  assert.deepEqual(await frozen.get<{ two: number }>('SELECT 2 AS two'), { two: 2 }, 'its pool opens a new session');
});
