import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeDaemon } from '../../../server/baselines/kinds/daemon.ts';
import { judgeFile } from '../../../server/baselines/kinds/file.ts';
import { judgeMount } from '../../../server/baselines/kinds/mount.ts';
import type { DaemonEntry, FileEntry } from '../../../shared/protocol.ts';

const file = (over: Partial<FileEntry> = {}): FileEntry => ({
  path: '/usr/sbin/cron',
  class: 'critical',
  type: 'file',
  sha256: 'a'.repeat(64),
  size: 10,
  mode: 0o100755,
  uid: 0,
  gid: 0,
  ino: '42',
  nlink: 1,
  mtime: '1000',
  ctime: '1000',
  ...over,
});

test('an unchanged file opens nothing', () => {
  assert.equal(judgeFile(file(), file()).alarm, null);
});

test('a new path is file-added, a vanished one file-missing, each keeping the value it has', () => {
  const added = judgeFile(null, file({ class: 'normal' }));
  assert.equal(added.alarm, 'file-added');
  assert.equal(added.severity, 'warning');
  assert.equal((added.detail.new as FileEntry).sha256, 'a'.repeat(64));
  const missing = judgeFile(file(), null);
  assert.equal(missing.alarm, 'file-missing');
  assert.equal(missing.severity, 'critical');
  assert.ok(missing.detail.old);
});

test('file-changed names each differing field with old and new value', () => {
  const v = judgeFile(file(), file({ sha256: 'b'.repeat(64), ctime: '2000' }));
  assert.equal(v.alarm, 'file-changed');
  assert.deepEqual(v.detail.changes, { sha256: { old: 'a'.repeat(64), new: 'b'.repeat(64) }, ctime: { old: '1000', new: '2000' } });
});

test('every measured field counts: mode, owner, inode, link count, symlink target, type', () => {
  for (const over of [{ mode: 0o104755 }, { uid: 1 }, { gid: 1 }, { ino: '43' }, { nlink: 2 }, { type: 'symlink' as const, target: '/tmp/x' }]) {
    assert.equal(judgeFile(file(), file(over)).alarm, 'file-changed', JSON.stringify(over));
  }
});

test("a directory's size, times and link count move with its entries and are not findings of their own", () => {
  const d = file({ type: 'dir', sha256: undefined, path: '/etc/cron.d' });
  assert.equal(judgeFile(d, { ...d, size: 4096 * 2, mtime: '5', ctime: '5', nlink: 3 }).alarm, null);
  assert.equal(judgeFile(d, { ...d, mode: 0o40777 }).alarm, 'file-changed');
});

test('severity follows the baseline class: critical and self are critical, normal a warning', () => {
  assert.equal(judgeFile(file({ class: 'normal' }), file({ class: 'normal', size: 1 })).severity, 'warning');
  // An agent reporting a guarded file as "normal" cannot lower the severity.
  assert.equal(judgeFile(file({ class: 'critical' }), file({ class: 'normal', size: 1 })).severity, 'critical');
});

test("the agent's own files are tampered with when they differ in any way", () => {
  const self = file({ class: 'self', path: '/etc/tripwarden/agent.yml' });
  assert.equal(judgeFile(self, { ...self, size: 11 }).tampered, true);
  assert.equal(judgeFile(self, null).tampered, true);
  assert.equal(judgeFile(self, self).tampered, false);
  assert.equal(judgeFile(file(), file({ size: 11 })).tampered, false);
});

test('daemons: down and exe-mismatch open their alarm, up opens none', () => {
  const d: DaemonEntry = { name: 'cron', exe: '/usr/sbin/cron', status: 'up', pids: [1], found: ['/usr/sbin/cron'] };
  assert.equal(judgeDaemon(d).alarm, null);
  assert.equal(judgeDaemon({ ...d, status: 'down', pids: [], found: [] }).alarm, 'daemon-down');
  assert.equal(judgeDaemon({ ...d, status: 'exe-mismatch', found: ['/tmp/cron'] }).alarm, 'daemon-exe-mismatch');
});

test('mounts: read-write or missing is mount-writable, read-only is fine', () => {
  assert.equal(judgeMount({ path: '/mnt/db', expect: 'ro', state: 'ro' }).alarm, null);
  assert.equal(judgeMount({ path: '/mnt/db', expect: 'ro', state: 'rw' }).alarm, 'mount-writable');
  assert.equal(judgeMount({ path: '/mnt/db', expect: 'ro', state: 'missing' }).alarm, 'mount-writable');
});
