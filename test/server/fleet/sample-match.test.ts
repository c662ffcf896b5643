import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyChange, type PeerState, sameContent } from '../../../server/fleet/sample-match.ts';
import type { FileEntry } from '../../../shared/protocol.ts';

const H = (c: string) => c.repeat(64);
const f = (sha: string, o: Partial<FileEntry> = {}): FileEntry => ({
  path: '/usr/sbin/cron',
  class: 'critical',
  type: 'file',
  sha256: H(sha),
  size: 10,
  mode: 0o100755,
  uid: 0,
  gid: 0,
  ino: '7',
  nlink: 1,
  mtime: '5',
  ctime: '5',
  ...o,
});
const peer = (host: string, sample: boolean, baseline: FileEntry | null, current: FileEntry | null): PeerState => ({ host, sample, baseline, current });

test('a change to the content a sample host accepted is expected, naming the sample', () => {
  const c = classifyChange(f('b', { ino: '99', mtime: '9' }), {
    isSample: false,
    cls: 'critical',
    peers: [peer('s1', true, f('b'), f('b')), peer('h2', false, f('a'), f('b'))],
  });
  assert.deepEqual(c.expected, { sample: 's1', sha256: H('b') });
  assert.equal(c.outlier, false);
  assert.equal(c.same, 2);
});

test("the sample must have accepted it: the same content only in a sample's current state is not expected", () => {
  const c = classifyChange(f('b'), { isSample: false, cls: 'critical', peers: [peer('s1', true, f('a'), f('b'))] });
  assert.equal(c.expected, null);
  assert.equal(c.outlier, false, 'the sample has it too');
});

test('a content no other host of the group has is an outlier and stays unexpected', () => {
  const c = classifyChange(f('x'), {
    isSample: false,
    cls: 'critical',
    peers: [peer('s1', true, f('b'), f('b')), peer('h2', false, f('b'), f('b'))],
  });
  assert.equal(c.expected, null);
  assert.equal(c.outlier, true);
  assert.equal(c.peers, 2);
});

test('no peer reporting the path: neither expected nor an outlier', () => {
  const c = classifyChange(f('x'), { isSample: false, cls: 'critical', peers: [peer('s1', true, f('x'), null)] });
  assert.equal(c.outlier, false);
  assert.deepEqual(c.expected, { sample: 's1', sha256: H('x') }, 'the sample accepted it even if it no longer reports it');
});

test("never expected: a sample's own change, the agent's own files, unreadable or vanished content", () => {
  const peers = [peer('s1', true, f('b'), f('b'))];
  assert.equal(classifyChange(f('b'), { isSample: true, cls: 'critical', peers }).expected, null);
  assert.equal(classifyChange(f('b', { class: 'self' }), { isSample: false, cls: 'self', peers }).expected, null);
  assert.equal(classifyChange(f('b', { error: 'EACCES' }), { isSample: false, cls: 'critical', peers }).expected, null);
  assert.equal(classifyChange(null, { isSample: false, cls: 'critical', peers }).expected, null);
});

test("same hash with another mode or owner is not the sample's state (a setuid bit stays critical)", () => {
  assert.equal(sameContent(f('b'), f('b', { ino: '1', mtime: '1', ctime: '1', nlink: 2 })), true, 'per-host fields do not count');
  assert.equal(sameContent(f('b'), f('b', { mode: 0o104755 })), false);
  assert.equal(sameContent(f('b'), f('b', { uid: 1000 })), false);
  const c = classifyChange(f('b', { mode: 0o104755 }), { isSample: false, cls: 'critical', peers: [peer('s1', true, f('b'), f('b'))] });
  assert.equal(c.expected, null);
});

test('with several samples, the first by name is named', () => {
  const c = classifyChange(f('b'), { isSample: false, cls: 'normal', peers: [peer('s2', true, f('b'), f('b')), peer('s1', true, f('b'), f('b'))] });
  assert.equal(c.expected?.sample, 's1');
});
