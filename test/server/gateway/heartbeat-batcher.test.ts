import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { HeartbeatBatcher } from '../../../server/gateway/heartbeat-batcher.ts';
import type { HeartbeatResult, Liveness } from '../../../server/liveness/liveness.ts';
import type { Queryable } from '../../../server/storage/engine.ts';
import { PgDb } from '../../../server/storage/pg-engine.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from '../liveness/liveness-fixture.ts';

/** Waits (real time, bounded) until `cond` holds; the fake clock does not move meanwhile. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describeEngines('the heartbeat batcher', ({ open }) => {
  /** Hosts `a` (boot BOOT) and `b`, each past its hello. */
  async function twoHosts() {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    await s.liveness.hello('a', helloMsg(0));
    await s.liveness.hello('b', helloMsg(0, 10_000, '22222222-2222-4333-8444-555555555555'));
    return s;
  }

  test('heartbeats within the window are committed together and each gets its result after the commit', async () => {
    const s = await twoHosts();
    const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 4, maxBatch: 100 });
    const got: (HeartbeatResult | Error)[] = [];
    b.submit('a', BOOT, 1, (r) => got.push(r));
    b.submit('b', '22222222-2222-4333-8444-555555555555', 1, (r) => got.push(r));
    b.submit('a', BOOT, 1, (r) => got.push(r)); // the same seq again: a replay
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([...got], [], 'nothing is acked before the commit');
    assert.equal((await s.host('a')).lastSeq, 0);
    s.clock.advance(4);
    await until(() => got.length === 3, 'the acks');
    assert.deepEqual(got, ['ok', 'ok', 'replay']);
    assert.equal((await s.host('a')).lastSeq, 1);
  });

  test('a full batch commits at once, and flush commits what is queued', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg(0));
    const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 1000, maxBatch: 2 });
    const got: unknown[] = [];
    b.submit('a', BOOT, 1, (r) => got.push(r));
    b.submit('a', BOOT, 2, (r) => got.push(r));
    await until(() => got.length === 2, 'the full batch');
    assert.deepEqual([...got], ['ok', 'ok']);
    b.submit('a', BOOT, 3, (r) => got.push(r));
    await b.flush();
    assert.deepEqual(got, ['ok', 'ok', 'ok']);
  });

  test('one failing heartbeat does not sink the others in its batch', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg(0));
    const flaky = {
      heartbeat: async (host: string, bootId: string, seq: number, q?: Queryable) => {
        if (host === 'bad') throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        return s.liveness.heartbeat(host, bootId, seq, q);
      },
    } as unknown as Liveness;
    const b = new HeartbeatBatcher(flaky, s.clock, { windowMs: 4, maxBatch: 100 });
    const got: unknown[] = [];
    b.submit('a', BOOT, 1, (r) => got.push(r));
    b.submit('bad', BOOT, 1, (r) => got.push(r instanceof Error ? (r as Error & { code: string }).code : r));
    b.submit('a', BOOT, 2, (r) => got.push(r));
    s.clock.advance(4);
    await b.flush();
    assert.deepEqual(got, ['ok', 'SQLITE_FULL', 'ok']);
    assert.equal((await s.host('a')).lastSeq, 2);
  });

  test('sparse heartbeats are not held back: each commits at once when they come further apart than the window', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg(0));
    const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 4, maxBatch: 100 });
    const got: unknown[] = [];
    let seq = 1;
    for (let i = 0; i < 30; i++) {
      s.clock.advance(50);
      b.submit('a', BOOT, seq++, (r) => got.push(r));
      s.clock.advance(4);
      await b.flush();
    }
    const before = got.length;
    s.clock.advance(50);
    b.submit('a', BOOT, seq++, (r) => got.push(r));
    // The fake clock stands still: a heartbeat held for the window would never be acked.
    await until(() => got.length === before + 1, 'the ack without waiting for the window');
    assert.equal(got.length, before + 1, 'acked without waiting for the window');
  });

  test('a heartbeat that asks for no ack waits for the next commit, even when heartbeats are sparse', async () => {
    const s = await twoHosts();
    const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 4, maxBatch: 100, holdMs: 50 });
    const got: string[] = [];
    s.clock.advance(1000); // sparse: a heartbeat that asks for an ack commits at once
    b.submit('a', BOOT, 1, (r) => got.push(`a1:${String(r)}`), false);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([...got], [], 'held: no commit of its own');
    assert.equal((await s.host('a')).lastSeq, 0);
    s.clock.advance(10);
    b.submit('b', '22222222-2222-4333-8444-555555555555', 1, (r) => got.push(`b1:${String(r)}`));
    await until(() => got.length === 2, 'the commit the ack asked for');
    assert.deepEqual([...got], ['a1:ok', 'b1:ok'], 'the held heartbeat rode with it, in arrival order');
    assert.equal((await s.host('a')).lastSeq, 1);
    // Alone, it is committed when the hold ends.
    s.clock.advance(1000);
    b.submit('a', BOOT, 2, (r) => got.push(`a2:${String(r)}`), false);
    s.clock.advance(49);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 2);
    s.clock.advance(1);
    await until(() => got.length === 3, 'the commit at the end of the hold');
    assert.equal((await s.host('a')).lastSeq, 2);
    // Busy: one that asks for an ack after a held one brings the commit forward to its window.
    for (let i = 0; i < 30; i++) {
      s.clock.advance(1);
      b.submit('a', BOOT, 3 + i, () => {}, false);
    }
    b.submit('b', '22222222-2222-4333-8444-555555555555', 2, (r) => got.push(`b2:${String(r)}`));
    s.clock.advance(4);
    await until(() => got.length === 4, 'the commit within the window');
    assert.deepEqual([(await s.host('a')).lastSeq, (await s.host('b')).lastSeq], [32, 2]);
  });

  test('a flush waits for the batches before it, and the acks keep the order of the heartbeats', async () => {
    const s = livenessFixture(await open());
    const n = 50;
    for (let i = 0; i < n; i++) {
      await s.addHost(`h${i}`);
      await s.liveness.hello(`h${i}`, helloMsg(0));
    }
    // The first batch is slow (a disk that stalls): what comes after it must not overtake it.
    const slow = {
      heartbeat: async (host: string, bootId: string, seq: number, q?: Queryable) => {
        if (host === 'h0') await new Promise((r) => setTimeout(r, 200));
        return s.liveness.heartbeat(host, bootId, seq, q);
      },
    } as unknown as Liveness;
    const b = new HeartbeatBatcher(slow, s.clock, { windowMs: 1000, maxBatch: 20 });
    const got: string[] = [];
    for (let i = 0; i < n; i++) b.submit(`h${i}`, BOOT, 1, (r) => got.push(`h${i}:${String(r)}`));
    // Two full batches are committing; the rest is queued. flush() resolves after all three.
    await b.flush();
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => `h${i}:ok`),
    );
    const stored = await s.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM hosts WHERE last_seq = 1');
    assert.deepEqual(stored, [{ n }]);
  });

  test('a batched heartbeat from a missing host brings it up and resolves agent-missing; an unknown boot is told apart', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    await s.liveness.hello('a', helloMsg(0));
    await s.liveness.hello('b', helloMsg(0));
    s.clock.advance(30_000);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('a'), ['agent-missing']);
    const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 1000, maxBatch: 100 });
    const got: unknown[] = [];
    b.submit('a', BOOT, 1, (r) => got.push(r));
    b.submit('b', 'ffffffff-2222-4333-8444-555555555555', 1, (r) => got.push(r));
    b.submit('a', BOOT, 2, (r) => got.push(r));
    await b.flush();
    assert.deepEqual(got, ['ok', 'unknown-boot', 'ok']);
    assert.deepEqual([(await s.host('a')).status, (await s.host('a')).lastSeq], ['up', 2]);
    assert.deepEqual(await s.openKinds('a'), []);
    assert.equal(s.liveness.beatsReceived, 4, 'two hellos and two heartbeats counted');
  });
});

test('a batch on an unreachable database fails as a whole, without a connection attempt per heartbeat', async () => {
  // A "database" that takes each connection and cuts it: every statement fails as TW_DB_UNAVAILABLE.
  let connections = 0;
  const cut = createServer((sock) => {
    connections++;
    sock.destroy();
  });
  await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
  const db = new PgDb(`postgres://tw@127.0.0.1:${(cut.address() as { port: number }).port}/tw`, { poolSize: 1, connectTimeoutMs: 2000 });
  after(async () => {
    await db.close().catch(() => {});
    cut.close();
  });
  const s = livenessFixture(db);
  const b = new HeartbeatBatcher(s.liveness, s.clock, { windowMs: 1000, maxBatch: 100 });
  const got: unknown[] = [];
  for (let i = 0; i < 20; i++) b.submit(`h${i}`, BOOT, 1, (r) => got.push(r instanceof Error ? (r as Error & { code: string }).code : r));
  await b.flush();
  assert.deepEqual(got, Array(20).fill('TW_DB_UNAVAILABLE'), 'every heartbeat of the batch unacked, with the catalogued error');
  assert.equal(connections, 1, 'one connection attempt for the batch, none per heartbeat');
});
