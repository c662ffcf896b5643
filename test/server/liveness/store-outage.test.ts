/**
 * The database unavailable to a running instance for longer than the agents' deadline, on a fake clock: a real
 * outage of the store (PostgreSQL: the test database stops taking connections and its sessions are ended;
 * SQLite: another connection holds the write lock past the busy timeout). The instance's lease renewal fails
 * meanwhile, and that time counts like a stall of the instance: an agent whose heartbeats were refused is not
 * declared missing when the database is back, while one that went silent is, its usual deadline after. Agents
 * whose connections dropped come back in a queue, as after a restart: one not back yet is spared while hellos keep
 * coming.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { LEASE_RENEW_MS } from '../../../server/liveness/instance-lease.ts';
import { describeEngines, pgUrl, type TestDb } from '../../helpers/engines.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';
import { leasedInstance } from './liveness-fixture.ts';

/** Runs statements on the server's `postgres` database (ALTER DATABASE cannot run inside the database itself). */
async function pgAdmin(...texts: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    for (const t of texts) await c.query(t);
  } finally {
    await c.end();
  }
}

/** Makes the store at `t` unavailable to every other connection; returns a function that ends the outage. */
async function outage(t: TestDb): Promise<() => Promise<void>> {
  if (t.db.engine === 'sqlite') {
    const holder = new Database(t.target);
    holder.exec('BEGIN IMMEDIATE');
    return async () => {
      holder.exec('ROLLBACK');
      holder.close();
    };
  }
  const name = new URL(t.target).pathname.slice(1);
  await pgAdmin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
  return () => pgAdmin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
}

describeEngines('a database outage longer than the deadline', ({ engine }) => {
  const stores: TestDb[] = [];
  after(async () => {
    for (const t of stores) await t.cleanup();
  });
  const leased = () => leasedInstance(engine, stores);

  test("an agent that kept beating is not declared missing; one that went silent is, its deadline after the database's return", async () => {
    const { t, s, lease } = await leased();
    // Interval 10 s, grace 5 s: late 15 s after the last heartbeat, missing after 25 s.
    let seq = 0;
    for (const h of ['beating', 'silent']) {
      await s.addHost(h);
      assert.equal(await s.liveness.hello(h, helloMsg(seq)), 'ok');
    }
    const beat = (h: string) => s.liveness.heartbeat(h, BOOT, ++seq);
    for (let i = 0; i < 3; i++) {
      s.clock.advance(5_000);
      for (const h of ['beating', 'silent']) assert.equal(await beat(h), 'ok');
      await lease.tick(0);
      await s.liveness.sweep();
    }
    const lastStored = s.clock.now();

    const end = await outage(t);
    s.clock.advance(LEASE_RENEW_MS);
    await assert.rejects(lease.tick(0), 'the renewal fails while the database is unavailable');
    await assert.rejects(beat('beating'), 'a heartbeat cannot be stored either');
    // Two minutes: past the 25 s deadline and past the longest hold a stall gives (HOLD_MAX_MS, 60 s).
    s.clock.advance(120_000);
    await end();
    const back = s.clock.now();

    // The sweep may run before the renewal that tells the outage is over: the open outage holds deadlines too.
    await s.liveness.sweep();
    for (const h of ['beating', 'silent']) {
      assert.notEqual((await s.host(h)).status, 'missing', `${h}: not missing as the database comes back (silent since ${(back - lastStored) / 1000} s, all of it the outage)`);
    }
    await lease.tick(0);
    assert.equal((await s.host('beating')).status, 'up');

    // The agent that kept beating: its next heartbeat is stored; the silent one stays silent.
    let missingAt: number | null = null;
    while (s.clock.now() < back + 40_000) {
      s.clock.advance(1_000);
      if ((s.clock.now() - back) % 5_000 === 0) assert.equal(await beat('beating'), 'ok');
      await lease.tick(0);
      await s.liveness.sweep();
      if (missingAt === null && (await s.host('silent')).status === 'missing') missingAt = s.clock.now();
    }
    assert.equal((await s.host('beating')).status, 'up');
    assert.deepEqual(await s.openKinds('beating'), [], 'no alarm for the agent that kept beating');
    // Its deadline (25 s after its last stored heartbeat) moved by the whole outage (since the last renewal,
    // at that heartbeat): 25 s after the database was back.
    assert.ok(missingAt !== null, 'the silent agent is declared missing');
    assert.ok(missingAt - back >= 25_000 && missingAt - back <= 26_000, `missing ${(missingAt - back) / 1000} s after the return`);
    assert.deepEqual(await s.openKinds('silent'), ['agent-missing']);
  });

  test('agents whose connections dropped in the outage come back in a queue: one not back yet is spared while the others keep saying hello', async () => {
    const { t, s, lease } = await leased();
    const fleet = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'last', 'gone'];
    let seq = 0;
    for (const h of fleet) {
      await s.addHost(h);
      assert.equal(await s.liveness.hello(h, helloMsg(++seq)), 'ok');
    }
    s.clock.advance(5_000);
    for (const h of fleet) assert.equal(await s.liveness.heartbeat(h, BOOT, ++seq), 'ok');
    await lease.tick(0);

    const end = await outage(t);
    s.clock.advance(LEASE_RENEW_MS);
    await assert.rejects(lease.tick(0));
    s.clock.advance(120_000);
    await end();
    await lease.tick(0);
    const back = s.clock.now();

    // The queue: one hello every 6 s, past the deadline the outage moved (25 s after the return); `last` at the end.
    const queue = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'last'];
    const status: Record<string, string[]> = { last: [], gone: [] };
    let next = 0;
    while (s.clock.now() < back + 90_000) {
      s.clock.advance(1_000);
      const since = s.clock.now() - back;
      if (since % 6_000 === 0 && next < queue.length) assert.equal(await s.liveness.hello(queue[next++]!, helloMsg(++seq)), 'ok');
      // The agents back beat on.
      if (since % 5_000 === 0) for (const h of queue.slice(0, next)) assert.equal(await s.liveness.heartbeat(h, BOOT, ++seq), 'ok');
      await s.liveness.sweep();
      for (const h of ['last', 'gone']) status[h]!.push(`${since / 1000}:${(await s.host(h)).status}`);
    }
    assert.equal(next, queue.length, 'every queued agent said hello');
    assert.ok(!status.last!.some((x) => x.endsWith(':missing')), `the last in the queue (hello at 42 s) never missing: ${status.last!.join(' ')}`);
    assert.deepEqual(await s.openKinds('last'), []);
    // The one that never came back: declared once the hellos stopped for RECOVERY_QUIET_MS (30 s after the last, at 42 s).
    const missing = status.gone!.find((x) => x.endsWith(':missing'));
    assert.equal(missing, '72:missing', `gone: ${status.gone!.join(' ')}`);
    assert.deepEqual(await s.openKinds('gone'), ['agent-missing']);
  });
});
