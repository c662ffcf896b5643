import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeartbeatBatcher } from '../../../server/gateway/heartbeat-batcher.ts';
import type { HeartbeatResult, Liveness } from '../../../server/liveness/liveness.ts';
import { BOOT, helloMsg, serverDb } from '../../helpers/server-db.ts';

test('heartbeats within the window are committed together and each gets its result after the commit', () => {
  const s = serverDb();
  s.addHost('a');
  s.addHost('b');
  s.liveness.hello('a', helloMsg(0));
  s.liveness.hello('b', helloMsg(0, 10_000, '22222222-2222-4333-8444-555555555555'));
  const b = new HeartbeatBatcher(s.db, s.liveness, s.clock, { windowMs: 4, maxBatch: 100 });
  const got: (HeartbeatResult | Error)[] = [];
  b.submit('a', BOOT, 1, (r) => got.push(r));
  b.submit('b', '22222222-2222-4333-8444-555555555555', 1, (r) => got.push(r));
  b.submit('a', BOOT, 1, (r) => got.push(r)); // the same seq again: a replay
  assert.deepEqual([...got], [], 'nothing is acked before the commit');
  assert.equal(s.hosts.get('a')!.lastSeq, 0);
  s.clock.advance(4);
  assert.deepEqual(got, ['ok', 'ok', 'replay']);
  assert.equal(s.hosts.get('a')!.lastSeq, 1);
});

test('a full batch commits at once, and flush commits what is queued', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg(0));
  const b = new HeartbeatBatcher(s.db, s.liveness, s.clock, { windowMs: 1000, maxBatch: 2 });
  const got: unknown[] = [];
  b.submit('a', BOOT, 1, (r) => got.push(r));
  b.submit('a', BOOT, 2, (r) => got.push(r));
  assert.deepEqual([...got], ['ok', 'ok']);
  b.submit('a', BOOT, 3, (r) => got.push(r));
  b.flush();
  assert.deepEqual(got, ['ok', 'ok', 'ok']);
});

test('one failing heartbeat does not sink the others in its batch', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg(0));
  const flaky = {
    heartbeat: (host: string, bootId: string, seq: number) => {
      if (host === 'bad') throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return s.liveness.heartbeat(host, bootId, seq);
    },
  } as unknown as Liveness;
  const b = new HeartbeatBatcher(s.db, flaky, s.clock, { windowMs: 4, maxBatch: 100 });
  const got: unknown[] = [];
  b.submit('a', BOOT, 1, (r) => got.push(r));
  b.submit('bad', BOOT, 1, (r) => got.push(r instanceof Error ? (r as Error & { code: string }).code : r));
  b.submit('a', BOOT, 2, (r) => got.push(r));
  s.clock.advance(4);
  assert.deepEqual(got, ['ok', 'SQLITE_FULL', 'ok']);
  assert.equal(s.hosts.get('a')!.lastSeq, 2);
});

test('sparse heartbeats are not held back: each commits at once when they come further apart than the window', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg(0));
  const b = new HeartbeatBatcher(s.db, s.liveness, s.clock, { windowMs: 4, maxBatch: 100 });
  const got: unknown[] = [];
  let seq = 1;
  for (let i = 0; i < 30; i++) {
    s.clock.advance(50);
    b.submit('a', BOOT, seq++, (r) => got.push(r));
    s.clock.advance(4);
  }
  const before = got.length;
  s.clock.advance(50);
  b.submit('a', BOOT, seq++, (r) => got.push(r));
  assert.equal(got.length, before + 1, 'acked without waiting for the window');
});
