/**
 * Several `serve` instances on one database, each as its own connection to one real SQLite file (as
 * separate processes have), on one fake clock: leases, who declares a silent instance down, the grace its
 * hosts get, and what an instance reads from a connection the agent has left.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { forgetInstance, INSTANCE_DOWN, InstanceLease, LEASE_RENEW_MS, LEASE_TIMEOUT_MS, listInstances } from '../../../server/liveness/instance-lease.ts';
import { Liveness } from '../../../server/liveness/liveness.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';
import { tempDir } from '../../helpers/temp.ts';

/** One instance: its own connection to the shared file, its stores, liveness and lease. */
function instance(file: string, name: string, clock: FakeClock) {
  const db = openDatabase(file);
  const alarms = new AlarmStore(db);
  const hosts = new HostStore(db);
  const liveness = new Liveness(db, { alarms, hosts, rollup: new HeartbeatRollup(db, clock) }, clock, { graceMs: 5_000, maxIntervalMs: 300_000, instance: name });
  const lease = new InstanceLease(db, alarms, { name, clock, spare: (i, now) => liveness.spareHostsOf(i, now) });
  return { db, alarms, hosts, liveness, lease };
}

function cluster(names: string[]) {
  const file = join(tempDir('tw-multi-'), 'shared.db');
  const clock = new FakeClock();
  const all = names.map((n) => instance(file, n, clock));
  return { file, clock, all };
}

const noWait = async () => {};
const downAlarms = (a: AlarmStore, name: string) => a.list({ host: name }).filter((x) => x.kind === INSTANCE_DOWN.kind);
const events = (c: ReturnType<typeof instance>, kind: string) =>
  c.db.prepare('SELECT e.action FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.kind = ? ORDER BY e.id').pluck().all(kind) as string[];

test('a lease silent past the timeout is declared down by exactly one survivor, with one alarm; its renewal resolves it', async () => {
  const { clock, all } = cluster(['alpha', 'bravo', 'charlie']);
  const [alpha, bravo, charlie] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>, ReturnType<typeof instance>];
  for (const i of all) await i.lease.acquire(noWait);
  const declared: string[][] = [];
  // alpha goes silent; bravo and charlie tick as serve does, both looking at every pass.
  for (let t = 0; t <= LEASE_TIMEOUT_MS + 3 * LEASE_RENEW_MS; t += 250) {
    clock.advance(250);
    declared.push(bravo.lease.tick(0), charlie.lease.tick(0));
  }
  assert.deepEqual(declared.flat(), ['alpha'], 'declared once, by one of the two');
  assert.equal(downAlarms(bravo.alarms, 'alpha').length, 1);
  assert.equal(downAlarms(bravo.alarms, 'alpha')[0]!.resolvedAt, null);
  assert.deepEqual(events(bravo, INSTANCE_DOWN.kind), ['open'], 'one event: one mail');
  assert.deepEqual(
    listInstances(alpha.db, clock.now()).map((r) => [r.name, r.status]),
    [
      ['alpha', 'down'],
      ['bravo', 'up'],
      ['charlie', 'up'],
    ],
  );

  // Back (a frozen process resumed): its next tick renews, and the alarm resolves once.
  alpha.lease.tick(3);
  assert.notEqual(downAlarms(alpha.alarms, 'alpha')[0]!.resolvedAt, null);
  assert.deepEqual(events(alpha, INSTANCE_DOWN.kind), ['open', 'resolve']);
  const a = listInstances(alpha.db, clock.now()).find((r) => r.name === 'alpha')!;
  assert.deepEqual([a.status, a.agents], ['up', 3]);
  clock.advance(LEASE_RENEW_MS);
  assert.deepEqual(bravo.lease.tick(0), [], 'renewed: not declared again');
});

test('a clean stop is listed down and raises nothing', async () => {
  const { clock, all } = cluster(['alpha', 'bravo']);
  const [alpha, bravo] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>];
  for (const i of all) await i.lease.acquire(noWait);
  alpha.lease.stop();
  for (let t = 0; t < 3 * LEASE_TIMEOUT_MS; t += 1000) {
    clock.advance(1000);
    bravo.lease.tick(0);
  }
  assert.deepEqual(downAlarms(bravo.alarms, 'alpha'), []);
  assert.equal(listInstances(bravo.db, clock.now()).find((r) => r.name === 'alpha')!.status, 'down');
});

test('an instance gone for good is forgotten, its alarm resolved; a live one is not', async () => {
  const { clock, all } = cluster(['alpha', 'bravo']);
  const [, bravo] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>];
  for (const i of all) await i.lease.acquire(noWait);
  for (let t = 0; t <= LEASE_TIMEOUT_MS + LEASE_RENEW_MS; t += 1000) {
    clock.advance(1000);
    bravo.lease.tick(0);
  }
  assert.equal(downAlarms(bravo.alarms, 'alpha')[0]!.resolvedAt, null);
  assert.equal(forgetInstance(bravo.db, bravo.alarms, 'bravo', clock.now()), 'up');
  assert.equal(forgetInstance(bravo.db, bravo.alarms, 'zulu', clock.now()), 'unknown');
  assert.equal(forgetInstance(bravo.db, bravo.alarms, 'alpha', clock.now()), 'forgotten');
  assert.notEqual(downAlarms(bravo.alarms, 'alpha')[0]!.resolvedAt, null);
  assert.deepEqual(
    listInstances(bravo.db, clock.now()).map((r) => r.name),
    ['bravo'],
  );
});

test('a second process under a live instance name is refused; one under a killed one takes over', async () => {
  const { file, clock, all } = cluster(['alpha']);
  const [alpha] = all as [ReturnType<typeof instance>];
  await alpha.lease.acquire(noWait);
  const twin = instance(file, 'alpha', clock);
  // The first keeps renewing while the twin watches: refused.
  await assert.rejects(
    twin.lease.acquire(async (ms) => {
      clock.advance(ms);
      alpha.lease.tick(0);
    }),
    (e: Error & { code?: string }) => e.code === 'TW_INSTANCE_TAKEN',
  );
  // The first is killed (no more renewals): a restart under its name takes the lease after one period.
  clock.advance(1000);
  const restarted = instance(file, 'alpha', clock);
  await restarted.lease.acquire(async (ms) => clock.advance(ms));
  assert.equal(listInstances(restarted.db, clock.now())[0]!.status, 'up');
});

test('the hosts of an instance found down are spared while they reconnect: no agent-missing, within bounds', async () => {
  const { clock, all } = cluster(['alpha', 'bravo']);
  const [alpha, bravo] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>];
  for (const i of all) await i.lease.acquire(noWait);
  alpha.db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h1', 'default', 'pending', 'AA', ?)`).run(clock.now());
  // The agent (10 s interval, 5 s grace: missing 25 s after its last heartbeat) is held by alpha, which then freezes.
  assert.equal(alpha.liveness.hello('h1', helloMsg(0, 10_000)), 'ok');
  assert.equal(bravo.hosts.get('h1')!.instance, 'alpha');
  // bravo runs its loop for a minute: the agent is still finding its way to it (its link notices a frozen
  // server after 6 intervals).
  for (let t = 0; t < 60_000; t += 250) {
    clock.advance(250);
    bravo.lease.tick(0);
    bravo.liveness.sweep();
  }
  assert.notEqual(bravo.hosts.get('h1')!.status, 'missing');
  assert.deepEqual(
    bravo.alarms
      .list({ host: 'h1' })
      .map((a) => a.kind)
      .filter((k) => k === 'agent-missing'),
    [],
  );
  assert.equal(bravo.hosts.get('h1')!.connected, false, 'not connected anywhere known');
  // It reconnects to bravo: up, held by bravo.
  assert.equal(bravo.liveness.hello('h1', helloMsg(40, 10_000)), 'ok');
  assert.deepEqual([bravo.hosts.get('h1')!.status, bravo.hosts.get('h1')!.instance], ['up', 'bravo']);

  // The grace is bounded: a host that never comes back is missing in the end.
  alpha.db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h2', 'default', 'pending', 'AB', ?)`).run(clock.now());
  alpha.lease.tick(0);
  assert.equal(alpha.liveness.hello('h2', helloMsg(0, 10_000, '22222222-2222-4333-8444-555555555555')), 'ok');
  for (let t = 0; t < 150_000; t += 250) {
    clock.advance(250);
    bravo.lease.tick(0);
    bravo.liveness.sweep();
    bravo.liveness.heartbeat('h1', BOOT, 41 + Math.floor(t / 250));
  }
  assert.equal(bravo.hosts.get('h2')!.status, 'missing');
  assert.equal(bravo.hosts.get('h1')!.status, 'up');
});

test('status changes from two instances sweeping one database: one writes each, one alarm, one event', async () => {
  const { clock, all } = cluster(['alpha', 'bravo']);
  const [alpha, bravo] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>];
  for (let i = 0; i < 20; i++) {
    alpha.db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`).run(`h${i}`, clock.now());
    alpha.liveness.hello(`h${i}`, helloMsg(0, 1000, `2222222${i % 10}-2222-4333-8444-55555555555${i % 10}`));
  }
  for (let t = 0; t < 10_000; t += 250) {
    clock.advance(250);
    alpha.liveness.sweep();
    bravo.liveness.sweep();
  }
  const missing = alpha.alarms.list().filter((a) => a.kind === 'agent-missing');
  assert.equal(missing.length, 20);
  assert.equal(events(alpha, 'agent-missing').length, 20, 'one open event per host: one mail each');
});

test('after a failover the old instance reads stale frames and a late close: neither replay nor agent-disconnected', async () => {
  const { all } = cluster(['alpha', 'bravo']);
  const [alpha, bravo] = all as [ReturnType<typeof instance>, ReturnType<typeof instance>];
  alpha.db.prepare(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h1', 'default', 'pending', 'AA', 0)`).run();
  assert.equal(alpha.liveness.hello('h1', helloMsg(0)), 'ok');
  assert.equal(alpha.liveness.heartbeat('h1', BOOT, 1), 'ok');
  // The agent left alpha (frozen) for bravo, same boot, its sequence grown.
  assert.equal(bravo.liveness.hello('h1', helloMsg(5)), 'ok');
  // alpha resumes: a heartbeat left in its socket buffer, then the close.
  assert.equal(alpha.liveness.heartbeat('h1', BOOT, 3), 'moved');
  assert.equal(alpha.liveness.goodbye('h1', BOOT, 4), 'moved');
  alpha.liveness.disconnected('h1', { othersLive: false, expected: false });
  assert.deepEqual(alpha.alarms.list({ open: true, host: 'h1' }), []);
  assert.equal(alpha.hosts.get('h1')!.connected, true, 'still connected, to bravo');
  // Held by no other instance, a sequence that does not grow is still a replay.
  assert.equal(bravo.liveness.heartbeat('h1', BOOT, 2), 'replay');
});
