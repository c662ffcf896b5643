import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mountState, parseMountInfo } from '../../../agent/checks/mountinfo.ts';

const fixture = parseMountInfo(readFileSync(join(import.meta.dirname, 'fixtures/mountinfo.txt'), 'utf8'));

test('a mount listed read-only is ro', () => {
  assert.equal(mountState(fixture, '/mnt/twdb'), 'ro');
  assert.equal(mountState(fixture, '/mnt/twdb/'), 'ro', 'a trailing slash names the same mount');
});

test('a read-write mount over a read-only one is what a process sees: rw', () => {
  assert.equal(mountState(fixture, '/mnt/remounted'), 'rw');
});

test('octal escapes in mount points are undone', () => {
  assert.equal(mountState(fixture, '/srv/with space'), 'ro');
});

test('a read-only superblock makes the mount read-only whatever the per-mount flag says', () => {
  assert.equal(mountState(fixture, '/mnt/superro'), 'ro');
});

test('the root file system is rw, an absent mount is missing, garbage lines are skipped', () => {
  assert.equal(mountState(fixture, '/'), 'rw');
  assert.equal(mountState(fixture, '/mnt/absent'), 'missing');
  assert.equal(fixture.length, 7);
});

test("this process's own /proc/self/mountinfo parses and has a root mount", () => {
  const real = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  assert.ok(real.some((m) => m.mountPoint === '/'));
});
