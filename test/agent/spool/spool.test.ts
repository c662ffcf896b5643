import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { recordSeverity } from '../../../agent/spool/severity.ts';
import { parseLine, Spool } from '../../../agent/spool/spool.ts';
import { type SpoolLink, SpoolSender } from '../../../agent/spool/spool-sender.ts';
import { createLogger } from '../../../shared/log.ts';
import type { EventBody, SpoolRecord } from '../../../shared/protocol.ts';
import { GENESIS_HASH, recordHash } from '../../../shared/spool-chain.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { tempDir } from '../../helpers/temp.ts';

const log = createLogger('test', { level: 'silent' });
const BOOT = '11111111-2222-4333-8444-555555555555';
let seq = 0;
const origin = () => ({ bootId: BOOT, seq: seq++, at: 1_700_000_000_000 + seq });
const file = (path: string, cls: 'normal' | 'critical' = 'normal') => fileEntry(path, { class: cls });
const event = (path: string, cls: 'normal' | 'critical' = 'normal'): EventBody => ({ kind: 'event', files: [file(path, cls)], gone: [], daemons: [], mounts: [], notes: [] });

/** Checks the whole file: every record's hash verifies and links to the one before (gaps link by their ends). */
function verifyChain(s: Spool): void {
  let prev = s.base;
  for (const r of s.read(0, 1e9)) {
    assert.equal(r.prev, prev.hash, `record ${r.n} links`);
    if (!('gap' in r)) assert.equal(recordHash(r), r.hash);
    prev = { n: r.n, hash: r.hash };
  }
  assert.deepEqual(prev, s.head);
}

test('appended records are chained, 0600, and numbered on across restarts and compaction', () => {
  const dir = tempDir();
  let s = new Spool({ dir, log });
  const a = s.append(event('/a'), 'low', origin());
  const b = s.append(event('/b'), 'low', origin());
  assert.equal(a.n, 1);
  assert.equal(a.prev, GENESIS_HASH);
  assert.equal(b.prev, a.hash);
  assert.equal(statSync(s.path).mode & 0o777, 0o600);
  verifyChain(s);
  s.ack(2, b.hash); // all acked: the file is cut to its header
  assert.equal(readFileSync(s.path, 'utf8').trim().split('\n').length, 1);
  s.close();
  s = new Spool({ dir, log });
  assert.deepEqual(s.head, { n: 2, hash: b.hash });
  const c = s.append(event('/c'), 'low', origin());
  assert.equal(c.n, 3);
  assert.equal(c.prev, b.hash);
  s.close();
});

test('a spool cut short by hand keeps its head from spool.head (so the server sees records missing)', () => {
  const dir = tempDir();
  const s = new Spool({ dir, log });
  for (let i = 0; i < 3; i++) s.append(event(`/f${i}`), 'low', origin());
  s.close();
  const lines = readFileSync(join(dir, 'spool.jsonl'), 'utf8').split('\n').filter(Boolean);
  writeFileSync(join(dir, 'spool.jsonl'), `${lines.slice(0, -1).join('\n')}\n`);
  const t = new Spool({ dir, log });
  assert.equal(t.head.n, 3);
  assert.equal(t.read(0, 10).length, 2);
  t.close();
});

test('spool.head deleted or made unreadable before a start, with records in the spool: reported as tampered, once', () => {
  const told: string[][] = [];
  const onTampered = (paths: string[]) => told.push(paths);
  // A first start and a clean restart report nothing.
  const dir = tempDir();
  let s = new Spool({ dir, log, onTampered });
  for (let i = 0; i < 3; i++) s.append(event(`/f${i}`), 'low', origin());
  s.close();
  s = new Spool({ dir, log, onTampered });
  s.close();
  assert.deepEqual(told, []);
  for (const [how, edit] of [
    ['deleted', () => rmSync(join(dir, 'spool.head'))],
    ['emptied', () => writeFileSync(join(dir, 'spool.head'), '')],
    ['garbled', () => writeFileSync(join(dir, 'spool.head'), '{"n":3,"hash":')],
  ] as const) {
    edit();
    s = new Spool({ dir, log, onTampered });
    assert.deepEqual(told.pop(), [join(dir, 'spool.head')], how);
    // Rewritten at once: the next start is clean again, and the records are all still there to send.
    assert.equal(s.read(0, 10).length, 3);
    s.close();
    s = new Spool({ dir, log, onTampered });
    s.close();
    assert.deepEqual(told, [], how);
  }
  // A spool whose every record was acknowledged (the file is its header alone) still counts: the head is past 0.
  s = new Spool({ dir, log, onTampered });
  s.ack(s.head.n, s.head.hash);
  s.close();
  rmSync(join(dir, 'spool.head'));
  new Spool({ dir, log, onTampered }).close();
  assert.equal(told.length, 1);
});

test('the head file shrinks without a stale tail: a shorter head written over a longer one parses', () => {
  const dir = tempDir();
  const s = new Spool({ dir, log });
  const recs = [0, 1, 2].map((i) => s.append(event(`/f${i}`), 'low', origin()));
  s.ack(recs[0]!.n, recs[0]!.hash); // a partial ack: the head file names it (longer)
  assert.ok('acked' in JSON.parse(readFileSync(join(dir, 'spool.head'), 'utf8')));
  s.ack(recs[2]!.n, recs[2]!.hash); // all acknowledged and cut
  const d = s.append(event('/d'), 'low', origin()); // nothing acknowledged in the file: the head alone (shorter)
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'spool.head'), 'utf8')), { n: d.n, hash: d.hash });
  s.close();
});

test('over its limit the oldest low-severity records become one gap and a summary; critical ones stay; the chain still links', () => {
  const dir = tempDir();
  const s = new Spool({ dir, log, maxBytes: 64 * 1024, origin });
  for (let i = 0; i < 400; i++) s.append(event(`/d/f${i}`, i % 50 === 0 ? 'critical' : 'normal'), i % 50 === 0 ? 'critical' : 'low', origin());
  assert.ok(s.bytes <= 64 * 1024 + 2048, `spool ${s.bytes} bytes`);
  const all = s.read(0, 1e9);
  const crit = all.filter((r) => !('gap' in r) && r.severity === 'critical' && r.body.kind === 'event');
  assert.equal(crit.length, 8, 'every critical record kept');
  const summaries = all.filter((r): r is SpoolRecord => !('gap' in r) && r.body.kind === 'summary');
  assert.ok(summaries.length >= 1);
  assert.ok(all.some((r) => 'gap' in r));
  verifyChain(s);
  s.close();
});

test('severity: critical files, daemons, mounts, network-lost are critical; normal files low', () => {
  assert.equal(recordSeverity(event('/x')), 'low');
  assert.equal(recordSeverity(event('/x', 'critical')), 'critical');
  assert.equal(recordSeverity({ kind: 'network-lost', startedAt: 1, endedAt: null, reasons: [] }), 'critical');
  assert.equal(
    recordSeverity({ ...event('/x'), files: [], gone: ['/bin/cron'] }, (p) => p === '/bin/cron'),
    'critical',
  );
});

test('parseLine refuses lines that are not records', () => {
  assert.equal(parseLine('not json'), null);
  assert.equal(parseLine('{"n":1}'), null);
});

test('the sender streams a replay of 1,000 records with at most 64 unacknowledged, in order', () => {
  const dir = tempDir();
  const spool = new Spool({ dir, log });
  const listeners: Record<string, ((a: unknown) => void)[]> = {};
  const sent: SpoolRecord[] = [];
  let connected = false;
  let s = 0;
  const link: SpoolLink = {
    bootId: BOOT,
    get isConnected() {
      return connected;
    },
    takeSeq: () => s++,
    sendMessage: (m) => {
      sent.push(m.record as SpoolRecord);
      return true;
    },
    on: (ev, fn) => {
      (listeners[ev] ??= []).push(fn as (a: unknown) => void);
    },
  };
  const sender = new SpoolSender(spool, link, { clock: new FakeClock(0), log });
  for (let i = 0; i < 1000; i++) sender.submit(event(`/r/${i}`));
  assert.equal(sent.length, 0, 'nothing sent while down');
  assert.equal(sender.head().n, 1000);
  connected = true;
  for (const fn of listeners.welcome!) fn({});
  let maxInflight = 0;
  let acked = 0;
  while (acked < 1000) {
    maxInflight = Math.max(maxInflight, sent.length - acked);
    const r = sent[acked]!;
    acked++;
    for (const fn of listeners['spool-ack']!) fn({ n: r.n, hash: r.hash });
  }
  assert.equal(maxInflight, 64);
  assert.deepEqual(
    sent.map((r) => r.n),
    Array.from({ length: 1000 }, (_, i) => i + 1),
  );
  assert.equal(sender.head().pending, false);
  assert.equal(readFileSync(spool.path, 'utf8').trim().split('\n').length, 1);
  spool.close();
});
