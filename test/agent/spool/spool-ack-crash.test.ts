import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SPOOL_FILE, SPOOL_HEAD_FILE, Spool } from '../../../agent/spool/spool.ts';
import { type SpoolLink, SpoolSender } from '../../../agent/spool/spool-sender.ts';
import { createLogger } from '../../../shared/log.ts';
import type { EventBody, SpoolRecord } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { tempDir } from '../../helpers/temp.ts';

const log = createLogger('test', { level: 'silent' });
const BOOT = '11111111-2222-4333-8444-555555555555';
let seq = 0;
const origin = () => ({ bootId: BOOT, seq: seq++, at: 1_700_000_000_000 + seq });
const event = (path: string): EventBody => ({ kind: 'event', files: [fileEntry(path, { class: 'normal' })], gone: [], daemons: [], mounts: [], notes: [] });

/** What a sender on a fresh agent sends from `dir` when it connects: the replay after a restart. */
function replayAfterRestart(dir: string): { spool: Spool; sent: number[] } {
  const spool = new Spool({ dir, log });
  const sent: number[] = [];
  const welcome: ((a: unknown) => void)[] = [];
  const link: SpoolLink = {
    bootId: BOOT,
    isConnected: true,
    takeSeq: () => seq++,
    sendMessage: (m) => {
      sent.push((m.record as SpoolRecord).n);
      return true;
    },
    on: (ev, fn) => {
      if (ev === 'welcome') welcome.push(fn as (a: unknown) => void);
    },
  };
  new SpoolSender(spool, link, { clock: new FakeClock(0), log });
  for (const fn of welcome) fn({});
  return { spool, sent };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('an ack of part of the spool writes no copy of the file; after a kill only the records not acknowledged go again', () => {
  const dir = tempDir();
  const s = new Spool({ dir, log });
  const recs = range(1, 5).map((i) => s.append(event(`/f${i}`), 'low', origin()));
  const ino = statSync(s.path).ino;
  s.ack(3, recs[2]!.hash);
  assert.equal(statSync(s.path).ino, ino, 'the file was not rewritten');
  assert.equal(readFileSync(s.path, 'utf8').trim().split('\n').length, 6, 'acknowledged records stay until enough gather');
  // kill -9 here: no close(), nothing flushed beyond what the calls wrote.
  const { spool, sent } = replayAfterRestart(dir);
  assert.deepEqual(sent, [4, 5], 'only what the server has not acknowledged');
  assert.deepEqual(spool.acked, { n: 3, hash: recs[2]!.hash });
  assert.deepEqual(spool.head, { n: 5, hash: recs[4]!.hash });
});

test('everything acknowledged: the file is cut to its header in place; a kill before or inside the cut loses nothing and sends nothing again', () => {
  const dir = tempDir();
  const s = new Spool({ dir, log });
  const recs = range(1, 3).map((i) => s.append(event(`/g${i}`), 'low', origin()));
  const full = readFileSync(s.path);
  const ino = statSync(s.path).ino;
  s.ack(3, recs[2]!.hash);
  assert.equal(statSync(s.path).ino, ino, 'cut in place, not copied and renamed');
  assert.equal(readFileSync(s.path, 'utf8').trim().split('\n').length, 1, 'the header alone');
  const head = readFileSync(join(dir, SPOOL_HEAD_FILE));

  // Killed after the head file named the ack, before the cut: the file still holds every record.
  writeFileSync(s.path, full);
  let r = replayAfterRestart(dir);
  assert.deepEqual(r.sent, [], 'acknowledged records are not sent again');
  assert.deepEqual(r.spool.head, { n: 3, hash: recs[2]!.hash });
  r.spool.close();

  // Killed between the cut and the header: an empty file.
  writeFileSync(join(dir, SPOOL_FILE), '');
  writeFileSync(join(dir, SPOOL_HEAD_FILE), head);
  const errors: string[] = [];
  const spool = new Spool({ dir, log: { ...log, error: (_o: unknown, m?: string) => void errors.push(String(m)) } as typeof log });
  assert.deepEqual(spool.base, { n: 3, hash: recs[2]!.hash }, 'loads as all acknowledged');
  assert.deepEqual(errors, [], 'no "truncated" alarm for a cut the agent made itself');
  const next = spool.append(event('/g4'), 'low', origin());
  assert.equal(next.prev, recs[2]!.hash, 'the chain goes on');
  spool.close();
  r = replayAfterRestart(dir);
  assert.deepEqual(r.sent, [4]);
});

test('kill -9 of a process acking record after record: each record not acknowledged is sent again, each acknowledged one is not', async () => {
  const dir = tempDir();
  const child = join(fileURLToPath(new URL('.', import.meta.url)), 'spool-ack-child.ts');
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const acked = await new Promise<number>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.trim().split('\n');
      const last = Number(lines.at(-1)?.split(' ')[1]);
      // Some acks in: kill it wherever it is (appending, acking, cutting).
      if (lines.length >= 40) {
        proc.kill('SIGKILL');
        resolve(last);
      }
    });
    proc.once('exit', () => reject(new Error(`child ended early: ${out.slice(-200)}`)));
  });
  await new Promise((r) => proc.once('exit', r));
  const { spool, sent } = replayAfterRestart(dir);
  assert.ok(spool.acked.n >= acked, `the last ack the child reported (${acked}) holds (${spool.acked.n})`);
  assert.deepEqual(sent, range(spool.acked.n + 1, spool.head.n), 'every record after the last ack, in order, once');
  assert.ok(spool.head.n >= acked);
});
