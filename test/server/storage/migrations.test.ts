import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { migrate } from '../../../server/storage/db.ts';
import { MIGRATIONS } from '../../../server/storage/migrations/index.ts';

test('all migrations apply to an empty database, in order, and again is a no-op', () => {
  const db = new Database(':memory:');
  assert.equal(migrate(db), MIGRATIONS.length);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.equal(migrate(db), MIGRATIONS.length);
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((t) => t.name);
  for (const t of ['hosts', 'tokens', 'alarms', 'alarm_events', 'commands', 'users']) assert.ok(tables.includes(t), t);
});

test('a database from a newer Tripwarden is refused, not damaged', () => {
  const db = new Database(':memory:');
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  assert.throws(() => migrate(db), /newer than this server/);
});

test('an alarm is opened once: a second open row for the same host, kind and subject is refused', () => {
  const db = new Database(':memory:');
  migrate(db);
  const ins = db.prepare(`INSERT INTO alarms (host, kind, severity, subject, opened_at) VALUES ('h', 'k', 'warning', 's', 1)`);
  ins.run();
  assert.throws(() => ins.run(), /UNIQUE/);
  db.prepare('UPDATE alarms SET resolved_at = 2').run();
  assert.doesNotThrow(() => ins.run(), 'once resolved, it may open again');
});
