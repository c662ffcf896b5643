/**
 * The PostgreSQL engine across a restart of the database, on a throwaway cluster of the test's own: a
 * transaction caught between two statements fails as TW_DB_UNAVAILABLE (the process lives on), statements while
 * the database is down fail the same way at once, and afterwards statements and wake-ups work again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PgDb } from '../../../server/storage/pg-engine.ts';
import { TwError } from '../../../shared/errors.ts';
import { PG_CLUSTER_SKIP, PgCluster } from '../../helpers/pg-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';

const opts = PG_CLUSTER_SKIP ? { skip: PG_CLUSTER_SKIP } : {};
let cluster: PgCluster | undefined;
let db: PgDb | undefined;

before(async () => {
  if (PG_CLUSTER_SKIP) return;
  cluster = await PgCluster.create();
  db = new PgDb(cluster.url());
  await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
});

after(async () => {
  await db?.close();
  await cluster?.close();
});

const isUnavailable = (err: unknown) => err instanceof TwError && err.code === 'TW_DB_UNAVAILABLE';

test('a transaction between two statements when the database restarts: rejected as TW_DB_UNAVAILABLE, nothing half done, the process lives', opts, async () => {
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);
  // The runner would report an uncaught error too, but after this test: catch it here to say what it was.
  process.prependListener('uncaughtException', onUncaught);
  try {
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = db!.tx(async (q) => {
      await q.run('INSERT INTO t (id, v) VALUES (1, ?)', ['first']);
      entered();
      // Idle in transaction, no statement in flight: the FATAL the restart sends arrives now.
      await gate;
      await q.run('INSERT INTO t (id, v) VALUES (2, ?)', ['second']);
    });
    const outcome = tx.then(
      () => 'committed',
      (err: unknown) => err,
    );
    await inside;
    await cluster!.restart();
    // Let the terminated connection's error event arrive before the transaction goes on.
    await new Promise((r) => setTimeout(r, 200));
    release();
    const err = await outcome;
    assert.deepEqual(uncaught, [], 'no uncaught error');
    assert.ok(isUnavailable(err), `rejected as TW_DB_UNAVAILABLE: ${String(err)}`);
    assert.deepEqual(await db!.all('SELECT id FROM t'), [], 'rolled back: neither row');
  } finally {
    process.removeListener('uncaughtException', onUncaught);
  }
});

test('statements while the database is down fail at once as TW_DB_UNAVAILABLE; after it is back, statements and wake-ups work', opts, async () => {
  let woken = 0;
  const stop = db!.listen('tw_test', () => woken++);
  await waitFor(
    async () => {
      await db!.notify('tw_test');
      return woken > 0;
    },
    { what: 'the first wake-up', timeoutMs: 10_000 },
  );
  await cluster!.stop();
  const t0 = Date.now();
  await assert.rejects(db!.run('INSERT INTO t (id, v) VALUES (3, ?)', ['down']), isUnavailable);
  await assert.rejects(
    db!.tx((q) => q.run('INSERT INTO t (id, v) VALUES (4, ?)', ['down'])),
    isUnavailable,
  );
  assert.ok(Date.now() - t0 < 5_000, 'without waiting for a timeout');
  await cluster!.start();
  await waitFor(async () => (await db!.run('INSERT INTO t (id, v) VALUES (5, ?)', ['back']).catch(() => 0)) === 1, { what: 'a write after the start', timeoutMs: 10_000 });
  // The listening client reconnects by itself and LISTENs again.
  const before = woken;
  await waitFor(
    async () => {
      await db!.notify('tw_test');
      return woken > before;
    },
    { what: 'a wake-up after the start', timeoutMs: 15_000 },
  );
  stop();
  assert.deepEqual(await db!.all('SELECT id FROM t ORDER BY id'), [{ id: 5 }]);
});
