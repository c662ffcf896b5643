/**
 * A PostgreSQL store whose first migration found the database unreachable (a connect timing out on a loaded
 * host, the database not up yet): `ready()` says so, which is what makes `serve` stop at start, and the next
 * statement tries the migration again instead of failing for good. A long-lived reader (a test's, a CLI's)
 * kept the first rejection and failed every statement after it in one loaded CI run.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { freshPgDatabase, PG_SKIP } from '../../helpers/engines.ts';

const opts = PG_SKIP ? { skip: PG_SKIP } : {};

const listen = (s: Server, port: number) => new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
const unavailable = (err: { code?: string }) => err.code === 'TW_DB_UNAVAILABLE';

test('unreachable at the first migration: ready() rejects; once the database answers, the next statement migrates and runs', opts, async () => {
  const fresh = await freshPgDatabase();
  const real = new URL(fresh.url);
  // A port nothing listens on yet: every connection is refused.
  const probe = createServer();
  await listen(probe, 0);
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const url = new URL(fresh.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const db = openSqlDb(url.toString(), PG_MIGRATIONS);
  const sockets: Socket[] = [];
  // The database "comes back" on that port: a TCP relay to the real server.
  const relay = createServer((c) => {
    const s = real.hostname.startsWith('/') ? connect(`${real.hostname}/.s.PGSQL.${real.port}`) : connect(Number(real.port), real.hostname);
    sockets.push(c, s);
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
    c.pipe(s).pipe(c);
  });
  after(async () => {
    await db.close().catch(() => {});
    for (const s of sockets) s.destroy();
    relay.close();
    await fresh.drop();
  });

  await assert.rejects(db.ready(), unavailable, 'the first migration finds no database');
  await assert.rejects(db.get('SELECT 1'), unavailable, 'still none: the statement tries again and says so');
  await listen(relay, port);
  assert.deepEqual(await db.get('SELECT COUNT(*)::int AS n FROM hosts'), { n: 0 }, 'migrated, then answered');
  assert.deepEqual(await db.get<{ one: number }>('SELECT 1 AS one'), { one: 1 });
});
