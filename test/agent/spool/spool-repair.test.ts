/**
 * The spool's files deleted or replaced under a running agent: the spool
 * recreates them without losing a record not yet acknowledged, the chain
 * continues from the head held in memory, and the loss is reported; a
 * finding the spool cannot take is held by the sender and spooled later.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SPOOL_FILE, SPOOL_HEAD_FILE, Spool } from '../../../agent/spool/spool.ts';
import { type SpoolLink, SpoolSender } from '../../../agent/spool/spool-sender.ts';
import { createLogger } from '../../../shared/log.ts';
import type { EventBody } from '../../../shared/protocol.ts';
import { recordHash } from '../../../shared/spool-chain.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';

const log = createLogger('test', { level: 'silent' });
const BOOT = '11111111-2222-4333-8444-555555555555';
let seq = 0;
const origin = () => ({ bootId: BOOT, seq: seq++, at: 1_700_000_000_000 + seq });
const event = (path: string): EventBody => ({
  kind: 'event',
  gone: [],
  daemons: [],
  mounts: [],
  notes: [],
  files: [{ path, class: 'critical', type: 'file', sha256: 'a'.repeat(64), size: 1, mode: 0o100644, uid: 0, gid: 0, ino: '1', nlink: 1, mtime: '1', ctime: '1' }],
});

/** Every record in the file links to the one before it, from the base to the head. */
function assertChained(s: Spool): void {
  let prev = s.base;
  for (const r of s.read(0, 1e9)) {
    assert.equal(r.prev, prev.hash, `record ${r.n} links`);
    if (!('gap' in r)) assert.equal(recordHash(r), r.hash);
    prev = { n: r.n, hash: r.hash };
  }
  assert.deepEqual(prev, s.head);
}

test('a state dir removed under the spool: recreated with the unacknowledged records, the chain unbroken, the loss reported', () => {
  const dir = join(tempDir(), 'state');
  mkdirSync(dir);
  const told: { paths: string[]; why: string }[] = [];
  const s = new Spool({ dir, log, onTampered: (paths, why) => told.push({ paths, why }) });
  const a = s.append(event('/a'), 'low', origin());
  s.append(event('/b'), 'low', origin());
  s.append(event('/c'), 'critical', origin());
  s.ack(a.n, a.hash);
  rmSync(dir, { recursive: true, force: true });
  const d = s.append(event('/d'), 'low', origin());
  assert.equal(d.n, 4, 'numbering carries on from the head in memory');
  assert.ok(existsSync(join(dir, SPOOL_FILE)) && existsSync(join(dir, SPOOL_HEAD_FILE)), 'both files recreated');
  assert.deepEqual(
    s.read(a.n, 100).map((r) => r.n),
    [2, 3, 4],
    'records 2 and 3 (not yet acknowledged) survived the deletion',
  );
  assertChained(s);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0]!.paths.sort(), [join(dir, SPOOL_FILE), join(dir, SPOOL_HEAD_FILE)].sort());
  assert.match(told[0]!.why, /recreated/);
  // Reopened from disk (the agent restarting), the recreated spool is the same chain.
  s.close();
  const again = new Spool({ dir, log });
  assert.deepEqual(again.head, s.head);
  again.close();
});

test('a spool file replaced by another (renamed over it): the agent keeps its own records and reports the path', () => {
  const dir = tempDir();
  const told: string[][] = [];
  const s = new Spool({ dir, log, onTampered: (paths) => told.push(paths) });
  s.append(event('/a'), 'low', origin());
  writeFileSync(join(dir, 'forged'), `{"base":{"n":0,"hash":"${'0'.repeat(64)}"}}\n`);
  renameSync(join(dir, 'forged'), join(dir, SPOOL_FILE));
  s.ensure();
  assert.deepEqual(told, [[join(dir, SPOOL_FILE)]]);
  assert.deepEqual(
    s.read(0, 10).map((r) => r.n),
    [1],
    'the forged file is replaced by the records the agent holds',
  );
  assertChained(s);
  s.ensure();
  assert.equal(told.length, 1, 'reported once, not on every check');
  s.close();
});

test('a spool truncated in place under the running agent: reported at the next check, what is left kept, the agent goes on', () => {
  const dir = tempDir();
  const told: { paths: string[]; why: string }[] = [];
  const s = new Spool({ dir, log, onTampered: (paths, why) => told.push({ paths, why }) });
  const a = s.append(event('/a'), 'low', origin());
  s.append(event('/b'), 'low', origin());
  s.append(event('/c'), 'critical', origin());
  s.ensure();
  assert.equal(told.length, 0, 'its own writes are not tampering');
  // The intruder cuts the last record off, as `truncate` would, keeping the file (same inode).
  const path = join(dir, SPOOL_FILE);
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  truncateSync(path, Buffer.byteLength(`${lines.slice(0, -1).join('\n')}\n`));
  s.ensure();
  assert.equal(told.length, 1, 'reported at the next check');
  assert.deepEqual(told[0]!.paths, [path]);
  assert.match(told[0]!.why, /truncated or edited in place/);
  assert.deepEqual(
    s.read(a.n - 1, 100).map((r) => r.n),
    [1, 2],
    'the records left in it are kept',
  );
  const d = s.append(event('/d'), 'low', origin());
  assert.equal(d.n, 4, 'numbering carries on from the head in memory: the server sees record 3 missing');
  s.ensure();
  assert.equal(told.length, 1, 'reported once');
  s.close();
});

test('a finding the spool cannot take is held in memory and spooled, in order, once the spool can take it again', () => {
  const root = tempDir();
  const dir = join(root, 'state');
  mkdirSync(dir);
  const spool = new Spool({ dir, log });
  let s = 0;
  const link: SpoolLink = { bootId: BOOT, isConnected: false, takeSeq: () => s++, sendMessage: () => false, on: () => undefined };
  const sender = new SpoolSender(spool, link, { clock: new FakeClock(0), log });
  sender.submit(event('/before'));
  // The state dir replaced by a file: the spool can neither write nor recreate it.
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(dir, 'in the way\n');
  assert.equal(sender.submit(event('/held-1')), null, 'not spooled, and no throw');
  assert.equal(sender.submit(event('/held-2')), null);
  assert.equal(sender.head().pending, true, 'the head says findings are still to come');
  rmSync(dir);
  sender.retry();
  const paths = spool.read(0, 10).map((r) => ('gap' in r || r.body.kind !== 'event' ? '' : r.body.files[0]!.path));
  assert.deepEqual(paths, ['/before', '/held-1', '/held-2'], 'nothing lost, nothing reordered');
  assertChained(spool);
  spool.close();
});
