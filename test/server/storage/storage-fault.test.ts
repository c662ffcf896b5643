/**
 * Storage faults met by the running server's writes map to the catalogue's one-line errors: a real full
 * file system (a small tmpfs) to TW_DISK_FULL, SQLite's bare I/O error on a read-only data dir to
 * TW_DB_READONLY (by the probe), anything else to nothing. Needs root to mount.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../../server/storage/db.ts';
import { faultLine, storageFault } from '../../../server/storage/storage-fault.ts';
import { tempDir } from '../../helpers/temp.ts';

function mount(opts: string): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = tempDir('tw-fault-');
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0 ? dir : null;
}
const skip = process.getuid?.() !== 0 ? 'needs root to mount a small tmpfs' : false;

test('a write into a full data dir: TW_DISK_FULL, one line with what to do', { skip }, () => {
  const dir = mount('size=1m');
  assert.ok(dir, 'tmpfs mounted');
  try {
    const db = openDatabase(join(dir, 'tripwarden.db'));
    let err: unknown;
    try {
      for (let i = 0; i < 10_000; i++) db.prepare(`INSERT INTO operator_actions (at, user, action, host, arg) VALUES (?, 'x', 'x', 'h', ?)`).run(i, 'x'.repeat(4096));
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'the disk filled up');
    const f = storageFault(err, join(dir, 'tripwarden.db'));
    assert.equal(f?.code, 'TW_DISK_FULL');
    assert.match(faultLine(f!), /^TW_DISK_FULL: no space left for database .*; free space in the data dir/);
    db.close();
  } finally {
    spawnSync('umount', ['-l', dir]);
  }
});

test("SQLite's bare I/O error: TW_DB_READONLY when the data dir cannot be written, nothing when it can", { skip }, () => {
  const ro = mount('size=1m,ro');
  assert.ok(ro, 'read-only tmpfs mounted');
  try {
    const ioerr = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
    assert.equal(storageFault(ioerr, join(ro, 'tripwarden.db'))?.code, 'TW_DB_READONLY');
    assert.equal(storageFault(ioerr, join(tempDir('tw-fault-rw-'), 'tripwarden.db')), null, 'a writable dir: an I/O error of another kind');
  } finally {
    spawnSync('umount', ['-l', ro]);
  }
  assert.equal(storageFault(Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), '/x/tripwarden.db'), null);
  assert.equal(storageFault(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }), '/x/tripwarden.db')?.code, 'TW_DB_READONLY');
});
