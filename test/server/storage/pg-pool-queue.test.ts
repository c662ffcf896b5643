/**
 * The PostgreSQL pool under a burst: a statement queued behind busy connections waits its turn however long
 * the burst lasts (a reconnect storm's hellos on the survivor of a two-instance pair), while opening a
 * connection to a database that never answers still fails within the connect timeout.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { PgDb } from '../../../server/storage/pg-engine.ts';
import { freshPgDatabase, PG_SKIP } from '../../helpers/engines.ts';

const opts = PG_SKIP ? { skip: PG_SKIP } : {};

test('a statement queued behind a busy pool longer than the connect timeout waits for its turn, and runs', opts, async () => {
  const fresh = await freshPgDatabase();
  const db = new PgDb(fresh.url, { poolSize: 1, connectTimeoutMs: 300 });
  after(async () => {
    await db.close();
    await fresh.drop();
  });
  await db.ready();
  assert.equal((await db.get<{ one: number }>('SELECT 1 AS one'))!.one, 1, 'the one connection is open');
  // The only connection held for three times the connect timeout (the burst); a statement queues behind it.
  const held = db.tx(async (tx) => tx.get('SELECT pg_sleep(0.9)'));
  const queued = db.get<{ two: number }>('SELECT 2 AS two');
  await held;
  assert.deepEqual(await queued, { two: 2 });
});

test('a database that accepts the TCP connection and never answers is unreachable after the connect timeout', opts, async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const db = new PgDb(`postgres://tw@127.0.0.1:${port}/tw`, { poolSize: 1, connectTimeoutMs: 300 });
  after(async () => {
    await db.close().catch(() => {});
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const t0 = Date.now();
  await assert.rejects(db.get('SELECT 1'), { code: 'TW_DB_UNAVAILABLE' });
  const took = Date.now() - t0;
  assert.ok(took >= 250 && took < 10_000, `failed after the connect timeout (${took} ms)`);
});
