/**
 * Several `serve` instances on one database, each as its own connection to it (one real SQLite file, or one
 * PostgreSQL database, as separate processes have), on one fake clock: leases, who declares a silent
 * instance down, the grace its hosts get, and what an instance reads from a connection the agent has left.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { forgetInstance, INSTANCE_DOWN, InstanceLease, LEASE_RENEW_MS, LEASE_TIMEOUT_MS, listInstances } from '../../../server/liveness/instance-lease.ts';
import { Liveness } from '../../../server/liveness/liveness.ts';
import { processMark } from '../../../server/liveness/process-mark.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { describeEngines, openTestDb, type TestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';

/** One instance: its own connection to the shared database, its stores, liveness and lease. */
function instance(db: SqlDb, name: string, clock: FakeClock) {
  const alarms = new AlarmStore(db);
  const hosts = new HostStore(db);
  const liveness = new Liveness(db, { alarms, hosts, rollup: new HeartbeatRollup(db, clock) }, clock, { graceMs: 5_000, maxIntervalMs: 300_000, instance: name });
  const lease = new InstanceLease(db, alarms, { name, clock, spare: (i, now, q) => liveness.spareHostsOf(i, now, q) });
  const host = async (h: string) => {
    const r = await hosts.get(h);
    if (!r) throw new Error(`no host ${h}`);
    return r;
  };
  return { db, alarms, hosts, liveness, lease, host };
}
type Instance = ReturnType<typeof instance>;

const noWait = async () => {};
const downAlarms = async (a: AlarmStore, name: string) => (await a.list({ host: name })).filter((x) => x.kind === INSTANCE_DOWN.kind);
const events = async (c: Instance, kind: string) =>
  (await c.db.all<{ action: string }>('SELECT e.action FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.kind = ? ORDER BY e.id', [kind])).map((r) => r.action);
const addHost = (c: Instance, host: string, serial: string, at: number) =>
  c.db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', ?, ?)`, [host, serial, at]);

describeEngines('instances sharing one database', ({ engine }) => {
  const stores: TestDb[] = [];
  const extra: SqlDb[] = [];
  after(async () => {
    for (const db of extra) await db.close();
    for (const t of stores) await t.cleanup();
  });

  /** A fresh database with one connection per name (the first is the test store's own). */
  async function cluster(names: string[]) {
    const t = await openTestDb(engine);
    stores.push(t);
    const clock = new FakeClock();
    const connect = () => {
      const db = openSqlDb(t.target, PG_MIGRATIONS);
      extra.push(db);
      return db;
    };
    const all = names.map((n, i) => instance(i === 0 ? t.db : connect(), n, clock));
    return { clock, all, connect };
  }

  test('a lease silent past the timeout is declared down by exactly one survivor, with one alarm; its renewal resolves it', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo', 'charlie']);
    const [alpha, bravo, charlie] = all as [Instance, Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    const declared: string[][] = [];
    // alpha goes silent; bravo and charlie tick as serve does, both looking at every pass.
    for (let t = 0; t <= LEASE_TIMEOUT_MS + 3 * LEASE_RENEW_MS; t += 250) {
      clock.advance(250);
      declared.push(await bravo.lease.tick(0), await charlie.lease.tick(0));
    }
    assert.deepEqual(declared.flat(), ['alpha'], 'declared once, by one of the two');
    assert.equal((await downAlarms(bravo.alarms, 'alpha')).length, 1);
    assert.equal((await downAlarms(bravo.alarms, 'alpha'))[0]!.resolvedAt, null);
    assert.deepEqual(await events(bravo, INSTANCE_DOWN.kind), ['open'], 'one event: one mail');
    assert.deepEqual(
      (await listInstances(alpha.db, clock.now())).map((r) => [r.name, r.status]),
      [
        ['alpha', 'down'],
        ['bravo', 'up'],
        ['charlie', 'up'],
      ],
    );

    // Back (a frozen process resumed): its next tick renews, and the alarm resolves once.
    await alpha.lease.tick(3);
    assert.notEqual((await downAlarms(alpha.alarms, 'alpha'))[0]!.resolvedAt, null);
    assert.deepEqual(await events(alpha, INSTANCE_DOWN.kind), ['open', 'resolve']);
    const a = (await listInstances(alpha.db, clock.now())).find((r) => r.name === 'alpha')!;
    assert.deepEqual([a.status, a.agents], ['up', 3]);
    clock.advance(LEASE_RENEW_MS);
    assert.deepEqual(await bravo.lease.tick(0), [], 'renewed: not declared again');
  });

  test('the database unreachable for longer than the lease timeout: back, no instance is declared down; one that stays silent still is', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo', 'charlie']);
    const [alpha, bravo, charlie] = all as [Instance, Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    // No tick renews while the database is down (each fails); it comes back after three lease timeouts.
    clock.advance(3 * LEASE_TIMEOUT_MS);
    const declared: string[] = [];
    // bravo's tick comes first, alpha's a moment later; charlie does not come back.
    declared.push(...(await bravo.lease.tick(0)));
    clock.advance(250);
    declared.push(...(await alpha.lease.tick(0)));
    assert.equal(declared.join(), '', 'nobody declared down while the others renew after the outage');
    for (let t = 0; t <= LEASE_TIMEOUT_MS + 3 * LEASE_RENEW_MS; t += 250) {
      clock.advance(250);
      declared.push(...(await alpha.lease.tick(0)), ...(await bravo.lease.tick(0)));
    }
    assert.deepEqual(declared, ['charlie'], 'the one that stayed silent: declared down once');
    assert.deepEqual(await downAlarms(alpha.alarms, 'alpha'), []);
    assert.deepEqual(await downAlarms(alpha.alarms, 'bravo'), []);
    assert.equal((await downAlarms(charlie.alarms, 'charlie')).length, 1);
  });

  test('a clean stop is listed down and raises nothing', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo']);
    const [alpha, bravo] = all as [Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    await alpha.lease.stop();
    for (let t = 0; t < 3 * LEASE_TIMEOUT_MS; t += 1000) {
      clock.advance(1000);
      await bravo.lease.tick(0);
    }
    assert.deepEqual(await downAlarms(bravo.alarms, 'alpha'), []);
    assert.equal((await listInstances(bravo.db, clock.now())).find((r) => r.name === 'alpha')!.status, 'down');
  });

  test('an instance gone for good is forgotten, its alarm resolved; a live one is not', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo']);
    const [, bravo] = all as [Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    for (let t = 0; t <= LEASE_TIMEOUT_MS + LEASE_RENEW_MS; t += 1000) {
      clock.advance(1000);
      await bravo.lease.tick(0);
    }
    assert.equal((await downAlarms(bravo.alarms, 'alpha'))[0]!.resolvedAt, null);
    assert.equal(await forgetInstance(bravo.db, bravo.alarms, 'bravo', clock.now()), 'up');
    assert.equal(await forgetInstance(bravo.db, bravo.alarms, 'zulu', clock.now()), 'unknown');
    assert.equal(await forgetInstance(bravo.db, bravo.alarms, 'alpha', clock.now()), 'forgotten');
    assert.notEqual((await downAlarms(bravo.alarms, 'alpha'))[0]!.resolvedAt, null);
    assert.deepEqual(
      (await listInstances(bravo.db, clock.now())).map((r) => r.name),
      ['bravo'],
    );
  });

  test('a second process under a live instance name is refused; one under a killed one takes over', async () => {
    const { clock, all, connect } = await cluster(['alpha']);
    const [alpha] = all as [Instance];
    await alpha.lease.acquire(noWait);
    const twin = instance(connect(), 'alpha', clock);
    // The first keeps renewing while the twin watches: refused.
    await assert.rejects(
      twin.lease.acquire(async (ms) => {
        clock.advance(ms);
        await alpha.lease.tick(0);
      }),
      (e: Error & { code?: string }) => e.code === 'TW_INSTANCE_TAKEN',
    );
    // The first is killed (no more renewals): a restart under its name takes the lease after one period.
    clock.advance(1000);
    const restarted = instance(connect(), 'alpha', clock);
    await restarted.lease.acquire(async (ms) => clock.advance(ms));
    assert.equal((await listInstances(restarted.db, clock.now()))[0]!.status, 'up');
  });

  test('a restart after its predecessor on this machine was killed takes the lease at once; one beside a live process waits', async () => {
    const { clock, all, connect } = await cluster(['alpha']);
    const [alpha] = all as [Instance];
    await alpha.lease.acquire(noWait);
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    // The row as that process would have left it: its mark in the token, renewed a moment ago.
    await alpha.db.run('UPDATE instances SET token = ?, last_seen = ? WHERE name = ?', [`t ${processMark(child.pid!)}`, clock.now() - 500, 'alpha']);
    const waits: number[] = [];
    const wait = async (ms: number) => {
      waits.push(ms);
      clock.advance(ms);
    };
    await instance(connect(), 'alpha', clock).lease.acquire(wait);
    assert.equal(waits.length, 1, 'the marked process still runs: one renewal period watched');
    await alpha.db.run('UPDATE instances SET token = ?, last_seen = ? WHERE name = ?', [`t ${processMark(child.pid!)}`, clock.now() - 500, 'alpha']);
    child.kill('SIGKILL');
    await once(child, 'exit');
    await instance(connect(), 'alpha', clock).lease.acquire(wait);
    assert.equal(waits.length, 1, 'the marked process is dead: no wait');
    assert.equal((await listInstances(alpha.db, clock.now()))[0]!.status, 'up');
  });

  test('the hosts of an instance found down are spared while they reconnect: no agent-missing, within bounds', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo']);
    const [alpha, bravo] = all as [Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    await addHost(alpha, 'h1', 'AA', clock.now());
    // The agent (10 s interval, 5 s grace: missing 25 s after its last heartbeat) is held by alpha, which then freezes.
    assert.equal(await alpha.liveness.hello('h1', helloMsg(0, 10_000)), 'ok');
    assert.equal((await bravo.host('h1')).instance, 'alpha');
    // bravo runs its loop for a minute: the agent is still finding its way to it (its link notices a frozen
    // server after 6 intervals).
    for (let t = 0; t < 60_000; t += 250) {
      clock.advance(250);
      await bravo.lease.tick(0);
      await bravo.liveness.sweep();
    }
    assert.notEqual((await bravo.host('h1')).status, 'missing');
    assert.deepEqual(
      (await bravo.alarms.list({ host: 'h1' })).map((a) => a.kind).filter((k) => k === 'agent-missing'),
      [],
    );
    assert.equal((await bravo.host('h1')).connected, false, 'not connected anywhere known');
    // It reconnects to bravo: up, held by bravo.
    assert.equal(await bravo.liveness.hello('h1', helloMsg(40, 10_000)), 'ok');
    assert.deepEqual([(await bravo.host('h1')).status, (await bravo.host('h1')).instance], ['up', 'bravo']);

    // The grace is bounded: a host that never comes back is missing in the end.
    await addHost(alpha, 'h2', 'AB', clock.now());
    await alpha.lease.tick(0);
    assert.equal(await alpha.liveness.hello('h2', helloMsg(0, 10_000, '22222222-2222-4333-8444-555555555555')), 'ok');
    for (let t = 0; t < 150_000; t += 250) {
      clock.advance(250);
      await bravo.lease.tick(0);
      await bravo.liveness.sweep();
      await bravo.liveness.heartbeat('h1', BOOT, 41 + Math.floor(t / 250));
    }
    assert.equal((await bravo.host('h2')).status, 'missing');
    assert.equal((await bravo.host('h1')).status, 'up');
  });

  test('status changes from two instances sweeping one database: one writes each, one alarm, one event', async () => {
    const { clock, all } = await cluster(['alpha', 'bravo']);
    const [alpha, bravo] = all as [Instance, Instance];
    for (let i = 0; i < 20; i++) {
      await addHost(alpha, `h${i}`, 'AA', clock.now());
      await alpha.liveness.hello(`h${i}`, helloMsg(0, 1000, `2222222${i % 10}-2222-4333-8444-55555555555${i % 10}`));
    }
    for (let t = 0; t < 10_000; t += 250) {
      clock.advance(250);
      await alpha.liveness.sweep();
      await bravo.liveness.sweep();
    }
    const missing = (await alpha.alarms.list()).filter((a) => a.kind === 'agent-missing');
    assert.equal(missing.length, 20);
    assert.equal((await events(alpha, 'agent-missing')).length, 20, 'one open event per host: one mail each');
  });

  // Two connections in one process cannot hold SQLite transactions at once (the second BEGIN IMMEDIATE blocks
  // the thread the first needs to commit); separate processes can, and PostgreSQL's READ COMMITTED is the case
  // where two instances really race.
  const concurrent = engine === 'sqlite' ? 'two SQLite connections in one process take turns; PostgreSQL runs them at once' : false;

  test('two instances sweeping at once (PostgreSQL, READ COMMITTED): each change written once, each alarm opened once', { skip: concurrent }, async () => {
    const { clock, all } = await cluster(['alpha', 'bravo']);
    const [alpha, bravo] = all as [Instance, Instance];
    const n = 40;
    for (let i = 0; i < n; i++) {
      await addHost(alpha, `h${i}`, 'AA', clock.now());
      await alpha.liveness.hello(`h${i}`, helloMsg(0, 1000, `${String(i).padStart(8, '0')}-2222-4333-8444-555555555555`));
    }
    // Every write of a status, counted by the database itself: two instances that both wrote one change would show.
    await alpha.db.run('CREATE TABLE status_writes (host TEXT NOT NULL, status TEXT NOT NULL)');
    await alpha.db.run(`CREATE FUNCTION note_status() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO status_writes VALUES (NEW.host, NEW.status); RETURN NEW; END $$`);
    await alpha.db.run('CREATE TRIGGER status_written AFTER UPDATE OF status ON hosts FOR EACH ROW EXECUTE FUNCTION note_status()');
    let changed = 0;
    for (let t = 0; t < 10_000; t += 250) {
      clock.advance(250);
      const [a, b] = await Promise.all([alpha.liveness.sweep(), bravo.liveness.sweep()]);
      changed += a + b;
    }
    assert.ok(changed >= 2 * n, 'both instances found the hosts due (late, then missing)');
    const writes = await alpha.db.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM status_writes GROUP BY status ORDER BY status');
    assert.deepEqual(writes, [
      { status: 'late', n },
      { status: 'missing', n },
    ]);
    const rows = await alpha.db.all<{ status: string }>('SELECT status FROM hosts');
    assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['missing']));
    const missing = (await alpha.alarms.list()).filter((a) => a.kind === 'agent-missing');
    assert.equal(missing.length, n, 'one alarm per host');
    assert.equal((await events(alpha, 'agent-missing')).length, n, 'one open event per host: one mail each');
  });

  test('two survivors watching at once (PostgreSQL): a lapsed instance is declared down once, with one alarm', { skip: concurrent }, async () => {
    const { clock, all } = await cluster(['alpha', 'bravo', 'charlie']);
    const [, bravo, charlie] = all as [Instance, Instance, Instance];
    for (const i of all) await i.lease.acquire(noWait);
    const declared: string[][] = [];
    for (let t = 0; t <= LEASE_TIMEOUT_MS + 3 * LEASE_RENEW_MS; t += 250) {
      clock.advance(250);
      declared.push(...(await Promise.all([bravo.lease.tick(0), charlie.lease.tick(0)])));
    }
    assert.deepEqual(declared.flat(), ['alpha'], 'declared once, by one of the two');
    assert.equal((await downAlarms(bravo.alarms, 'alpha')).length, 1);
    assert.deepEqual(await events(bravo, INSTANCE_DOWN.kind), ['open'], 'one event: one mail');
  });

  test('after a failover the old instance reads stale frames and a late close: neither replay nor agent-disconnected', async () => {
    const { all } = await cluster(['alpha', 'bravo']);
    const [alpha, bravo] = all as [Instance, Instance];
    await addHost(alpha, 'h1', 'AA', 0);
    assert.equal(await alpha.liveness.hello('h1', helloMsg(0)), 'ok');
    assert.equal(await alpha.liveness.heartbeat('h1', BOOT, 1), 'ok');
    // The agent left alpha (frozen) for bravo, same boot, its sequence grown.
    assert.equal(await bravo.liveness.hello('h1', helloMsg(5)), 'ok');
    // alpha resumes: a heartbeat left in its socket buffer, then the close.
    assert.equal(await alpha.liveness.heartbeat('h1', BOOT, 3), 'moved');
    assert.equal(await alpha.liveness.goodbye('h1', BOOT, 4), 'moved');
    await alpha.liveness.disconnected('h1', { othersLive: false, expected: false });
    assert.deepEqual(await alpha.alarms.list({ open: true, host: 'h1' }), []);
    assert.equal((await alpha.host('h1')).connected, true, 'still connected, to bravo');
    // Held by no other instance, a sequence that does not grow is still a replay.
    assert.equal(await bravo.liveness.heartbeat('h1', BOOT, 2), 'replay');
  });
});
