import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import type { FileEntry } from '../../../shared/protocol.ts';
import { initServer, serverCli } from '../../helpers/cluster.ts';

const f = (path: string, size = 1): FileEntry => ({
  path,
  class: 'normal',
  type: 'file',
  sha256: 'a'.repeat(64),
  size,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  ino: '1',
  nlink: 1,
  mtime: '1',
  ctime: '1',
});

test('accept: by host and paths, by group, and the errors that name what was wrong', async () => {
  const { dir } = initServer();
  const db = openSqlDb(join(dir, 'tripwarden.db'), PG_MIGRATIONS);
  const store = new BaselineStore(db, new AlarmStore(db), new GroupPeers(db));
  const now = Date.now();
  for (const [host, grp] of [
    ['web1', 'web'],
    ['web2', 'web'],
    ['db1', 'db'],
    ['fresh', 'db'],
  ] as const) {
    await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', [host, grp, now]);
  }
  for (const h of ['web1', 'web2', 'db1']) {
    await store.applyReport(h, { files: [f('/etc/crontab'), f('/etc/cron.d/job')], daemons: [], mounts: [] }, now);
    await store.applyEvent(h, { files: [f('/etc/crontab', 2), f('/etc/cron.d/job', 2)], gone: [], daemons: [], mounts: [] }, now);
  }
  const open = async (host: string) => (await new AlarmStore(db).list({ open: true, host })).map((a) => a.subject).sort();
  assert.deepEqual(await open('web1'), ['/etc/cron.d/job', '/etc/crontab']);

  let r = serverCli(['accept', 'db1', '/etc/cron.d', '--stale', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /accepted 1 path\(s\) of db1/);
  assert.deepEqual(await open('db1'), ['/etc/crontab']);

  r = serverCli(['accept', '--group', 'web', '/etc/crontab', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await open('web1'), ['/etc/cron.d/job']);
  assert.deepEqual(await open('web2'), ['/etc/cron.d/job']);

  r = serverCli(['accept', 'web1', '--stale', '--dir', dir]);
  assert.equal(r.code, 0);
  assert.deepEqual(await open('web1'), []);

  r = serverCli(['accept', 'nosuch', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /TW_HOST_UNKNOWN/);
  r = serverCli(['accept', 'fresh', '--dir', dir]);
  assert.match(r.stderr, /TW_BASELINE_NONE/);
  r = serverCli(['accept', 'db1', 'etc/crontab', '--dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not an absolute path/);
  r = serverCli(['accept', 'db1', '/never/reported', '--stale', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /TW_PATH_UNKNOWN: db1 never reported \/never\/reported/);
  r = serverCli(['accept', '--group', 'web', '--dir', dir]);
  assert.equal(r.code, 2);
  await db.close();
});
