/**
 * `init --dir D --database postgres://...`: a data dir whose store is PostgreSQL, the database migrated once
 * by init; `init --join` copies the URL. A fresh database on the shared PostgreSQL server for each test.
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { loadServerConfig } from '../../../server/config.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { freshPgDatabase, PG_SKIP } from '../../helpers/engines.ts';
import { tempDir } from '../../helpers/temp.ts';

function io() {
  const out: string[] = [];
  return { out, io: { out: (l: string) => out.push(l), err: (l: string) => out.push(l) } };
}

test('init --database makes a data dir that stores in PostgreSQL, migrated by init; --join copies the URL', { skip: PG_SKIP ?? false }, async () => {
  const pg = await freshPgDatabase();
  try {
    const root = tempDir('tw-init-pg-');
    const d = join(root, 'd');
    const first = io();
    assert.equal(await initCommand(['--dir', d, '--database', pg.url, '--instance', 'alpha', '--listen', '127.0.0.1:7443'], first.io), 0);
    assert.match(first.out[0]!, /^initialised .*d, storing in postgres:\/\//);
    assert.match(first.out[2]!, /^dashboard user admin, password \(shown once\): /);
    assert.equal(loadServerConfig(join(d, 'server.yml')).database, pg.url);
    assert.ok(!existsSync(join(d, 'tripwarden.db')), 'no SQLite file');
    assert.deepEqual(readdirSync(d).sort(), ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'server.yml']);

    // Migrated once, by init: the schema is at the last migration and holds the dashboard user.
    const db = openSqlDb(pg.url, PG_MIGRATIONS);
    try {
      assert.equal((await db.get<{ version: number }>('SELECT version FROM tw_schema'))!.version, PG_MIGRATIONS.length);
      assert.deepEqual(await db.all('SELECT name FROM users'), [{ name: 'admin' }]);
      await db.run(`INSERT INTO instances (name, started_at, last_seen, token) VALUES ('bravo', 0, 0, 't')`);
    } finally {
      await db.close();
    }

    // A second instance's dir from the first: the same URL; an instance name the database holds is taken.
    const d2 = join(root, 'd2');
    const j = io();
    assert.equal(await initCommand(['--dir', d2, '--join', d, '--listen', '127.0.0.1:7444'], j.io), 0);
    assert.match(j.out[0]!, /^initialised .*d2 as instance \S+, sharing the database postgres:\/\/\S+ with /);
    const cfg2 = loadServerConfig(join(d2, 'server.yml'));
    assert.equal(cfg2.database, pg.url);
    assert.ok(!existsSync(join(d2, 'tripwarden.db')));
    assert.equal(readFileSync(join(d2, 'ca.crt'), 'utf8'), readFileSync(join(d, 'ca.crt'), 'utf8'));
    const d3 = join(root, 'd3');
    assert.equal(await initCommand(['--dir', d3, '--join', d, '--instance', 'charlie'], io().io), 0);
    assert.equal(loadServerConfig(join(d3, 'server.yml')).instance, 'charlie');

    // init --database on a database already in use keeps its users (and says so); a new CA is its own dir's.
    const again = io();
    assert.equal(await initCommand(['--dir', join(root, 'd4'), '--database', pg.url], again.io), 0);
    assert.equal(again.out[2], 'the database already has the dashboard user admin: its password is unchanged');
  } finally {
    await pg.drop();
  }
});

test('init --database takes only a postgres:// URL, not with --join; an unreachable database fails init, leaving the dir empty', async () => {
  const root = tempDir('tw-init-pg-');
  const d = join(root, 'd');
  await assert.rejects(
    initCommand(['--dir', d, '--database', '/var/lib/tw.db'], io().io),
    (e: Error & { code?: string }) => e.code === 'TW_ARGS' && /not a postgres:\/\/ URL/.test(e.message),
  );
  await assert.rejects(
    initCommand(['--dir', d, '--database', 'mysql://u:secret@h/db'], io().io),
    (e: Error & { code?: string }) => e.code === 'TW_ARGS' && !e.message.includes('secret'),
  );
  assert.equal(await initCommand(['--dir', d], io().io), 0);
  await assert.rejects(initCommand(['--dir', join(root, 'd2'), '--join', d, '--database', 'postgres://h/db'], io().io), { code: 'TW_ARGS' });
  // Nothing listens on port 1 of loopback.
  const d3 = join(root, 'd3');
  await assert.rejects(initCommand(['--dir', d3, '--database', 'postgres://tw@127.0.0.1:1/tw'], io().io), { code: 'TW_DB_UNAVAILABLE' });
  assert.deepEqual(readdirSync(d3), [], 'no config naming a database that was never migrated');
});
