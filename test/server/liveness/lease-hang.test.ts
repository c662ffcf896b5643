/**
 * A lease renewal that hangs: the database stops answering this instance's writes without an error. On
 * PostgreSQL a second session holds a lock the renewal needs (the renewal waits on it, for ever without a
 * bound); on SQLite another connection holds the write lock (the renewal fails after the busy timeout). Either
 * way the instance counts an outage from its last renewal that committed (`storeDown`), so deadlines are held
 * instead of its hosts being judged on heartbeats it could not store; the outage ends at the first renewal that
 * commits. When nothing on the lease table answers, the hold is in full; when the database answers others (a
 * lock on this instance's row alone, another instance renewing), it is held no longer than a stall. The
 * deadline logic runs on a fake clock; the hangs are real.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { InstanceLease, LEASE_RENEW_MS, LEASE_RENEW_TIMEOUT_MS } from '../../../server/liveness/instance-lease.ts';
import { HOLD_MAX_MS } from '../../../server/liveness/status.ts';
import { describeEngines, type TestDb } from '../../helpers/engines.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';
import { leasedInstance } from './liveness-fixture.ts';

/**
 * Makes the lease table wait on a lock another session holds (PostgreSQL: the whole table, so that nothing on
 * it answers, as when the database hangs; `row`: only this instance's lease row); returns the release.
 */
async function hang(t: TestDb, row = false): Promise<() => Promise<void>> {
  if (t.db.engine === 'sqlite') {
    const holder = new Database(t.target);
    holder.exec('BEGIN IMMEDIATE');
    return async () => {
      holder.exec('ROLLBACK');
      holder.close();
    };
  }
  const holder = new pg.Client({ connectionString: t.target });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query(row ? `SELECT name FROM instances WHERE name = 'alpha' FOR UPDATE` : 'LOCK TABLE instances IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await holder.query('ROLLBACK');
    await holder.end();
  };
}

/** Whether a promise settles within `ms` of real time. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    sleep(ms).then(() => false),
  ]);
}

describeEngines('a lease renewal that hangs', ({ engine }) => {
  const stores: TestDb[] = [];
  after(async () => {
    for (const t of stores) await t.cleanup();
  });

  const leased = () => leasedInstance(engine, stores);

  test('is an outage from the last renewal once it outlives its bound; deadlines are held until a renewal commits', async () => {
    const { t, s, lease, downs, backs, answers } = await leased();
    // Interval 10 s, grace 5 s: missing 25 s after the last heartbeat.
    await s.addHost('quiet');
    assert.equal(await s.liveness.hello('quiet', helloMsg(1)), 'ok');
    s.clock.advance(LEASE_RENEW_MS);
    await lease.tick(0);
    const lastRenew = s.clock.now();

    const release = await hang(t);
    let released = false;
    try {
      s.clock.advance(LEASE_RENEW_MS);
      const pass = lease.tick(0);
      if (engine === 'postgres') {
        // The renewal waits on the lock: nothing tells it to stop but its bound.
        assert.equal(await settlesWithin(pass, 500), false, 'the renewal waits on the lock');
        s.clock.advance(LEASE_RENEW_TIMEOUT_MS);
      }
      // SQLite: the write lock is refused after the busy timeout (5 s of real time).
      assert.equal(await settlesWithin(pass, 15_000), true, 'the renewal gave up');
      await assert.rejects(pass, engine === 'postgres' ? { code: 'TW_DB_STALLED' } : /locked|busy/i);
      assert.deepEqual(downs, [lastRenew], 'an outage since the last renewal that committed');
      assert.deepEqual(answers, [], "nothing on the lease table answers: the outage is the store's, held in full");
      // Two minutes pass, past the host's deadline; while the renewal still hangs, a pass starts no second one.
      s.clock.advance(120_000);
      assert.equal(await settlesWithin(lease.tick(0), 2_000), true, 'a pass during the hang returns at once');
      await release();
      released = true;
    } finally {
      if (!released) await release();
    }
    const back = s.clock.now();
    // The database answers again; the sweep may run before the next renewal: the open outage holds the deadline.
    await s.liveness.sweep();
    assert.notEqual((await s.host('quiet')).status, 'missing', 'not judged on the time the instance could not write');
    await sleep(100); // the renewal that hung commits now that the lock is gone
    s.clock.advance(LEASE_RENEW_MS);
    await lease.tick(0);
    assert.ok(
      backs.some((at) => at >= back),
      'the outage ends at the first renewal that commits',
    );
    // A host that really is silent is still declared missing, its deadline's remainder after the return.
    let missingAt: number | null = null;
    while (missingAt === null && s.clock.now() < back + 60_000) {
      s.clock.advance(1_000);
      await lease.tick(0);
      await s.liveness.sweep();
      if ((await s.host('quiet')).status === 'missing') missingAt = s.clock.now();
    }
    assert.ok(missingAt !== null && missingAt - back <= 25_000, `missing ${missingAt === null ? 'never' : `${(missingAt - back) / 1000} s`} after the return`);
  });

  test('a lock on its own lease row alone, the database answering: held no longer than a stall, so a silent host is still judged', {
    skip: engine === 'sqlite' ? 'SQLite has one write lock for the whole store: no lock holds the lease alone' : false,
  }, async () => {
    const { t, s, lease, downs, answers } = await leased();
    let seq = 0;
    for (const h of ['quiet', 'beating']) {
      await s.addHost(h);
      assert.equal(await s.liveness.hello(h, helloMsg(++seq)), 'ok');
    }
    const t0 = s.clock.now();
    s.clock.advance(LEASE_RENEW_MS);
    await lease.tick(0);
    const release = await hang(t, true);
    try {
      s.clock.advance(LEASE_RENEW_MS);
      const pass = lease.tick(0);
      assert.equal(await settlesWithin(pass, 500), false, 'the renewal waits on the row lock');
      s.clock.advance(LEASE_RENEW_TIMEOUT_MS);
      await assert.rejects(pass, { code: 'TW_DB_STALLED' });
      assert.equal(downs.length, 1);
      await waitFor(() => answers.length === 1, { what: 'the probe: a write on another connection commits, the database answers', timeoutMs: 10_000 });
      // The lock is never released while the hosts are judged: the one that keeps beating stays up, the silent
      // one is declared missing, its deadline (25 s) plus the outage before the probe plus at most HOLD_MAX_MS.
      const bound = t0 + 25_000 + (answers[0]! - downs[0]!) + HOLD_MAX_MS + 1_000;
      let missingAt: number | null = null;
      while (missingAt === null && s.clock.now() < bound + 10_000) {
        s.clock.advance(1_000);
        if ((s.clock.now() - t0) % 5_000 === 0) assert.equal(await s.liveness.heartbeat('beating', BOOT, ++seq), 'ok');
        assert.equal(await settlesWithin(lease.tick(0), 2_000), true);
        await s.liveness.sweep();
        if ((await s.host('quiet')).status === 'missing') missingAt = s.clock.now();
      }
      assert.ok(missingAt !== null && missingAt <= bound, `silent host missing ${missingAt === null ? 'never' : `${(missingAt - t0) / 1000} s after its last heartbeat`}`);
      assert.equal((await s.host('beating')).status, 'up');
    } finally {
      await release();
    }
  });

  test("another instance renewing while this one cannot write: the outage is this one's alone, held as a stall", {
    skip: engine === 'sqlite' ? 'SQLite has one write lock for the whole store' : false,
  }, async () => {
    const { t, s, lease, downs, answers } = await leased();
    const beta = new InstanceLease(t.db, s.alarms, { name: 'beta', clock: s.clock, spare: async () => {} });
    await beta.acquire(async () => {});
    const rowLock = await hang(t, true);
    // Then writes on the lease table wait too (a SHARE lock queued behind the renewal's), reads do not.
    const writes = new pg.Client({ connectionString: t.target });
    await writes.connect();
    try {
      s.clock.advance(LEASE_RENEW_MS);
      const pass = lease.tick(0);
      assert.equal(await settlesWithin(pass, 500), false, 'the renewal waits on the row lock');
      s.clock.advance(1_000);
      await beta.tick(0); // beta renews after alpha's renewal began to hang
      await writes.query('BEGIN');
      const shared = writes.query('LOCK TABLE instances IN SHARE MODE');
      shared.catch(() => {});
      await sleep(200);
      s.clock.advance(LEASE_RENEW_TIMEOUT_MS);
      await assert.rejects(pass, { code: 'TW_DB_STALLED' });
      assert.equal(downs.length, 1);
      await waitFor(() => answers.length === 1, { what: "the probe: beta's renewal read back", timeoutMs: 10_000 });
    } finally {
      await rowLock();
      await writes.query('ROLLBACK').catch(() => {});
      await writes.end();
    }
  });
});
