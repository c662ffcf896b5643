/**
 * When checkers run: one run a day per declared checker at a random moment of `checkerWindow`, stratified
 * over the window and drawn again each day; due runs sent to connected hosts only, with the baseline's
 * hashes; a run with no result by window end plus `checkerTimeout` is `missed`. Both engines, a fake clock;
 * the link is the function the scheduler is given (the TLS path is in checker-link.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { CheckerScheduler } from '../../../server/checkers/checker-scheduler.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import { CheckerWindow, stratify } from '../../../server/checkers/checker-window.ts';
import { ServerConfigSchema } from '../../../server/config.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import type { RunChecker } from '../../../shared/checker-messages.ts';
import { validateConfig } from '../../../shared/config-file.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb, PG_SKIP } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const H = 3_600_000;
const TIMEOUT = 2 * H;
/** Local midnight of 2026-03-10: windows are in the server's local time. */
const MIDNIGHT = new Date(2026, 2, 10).getTime();
const at = (h: number, m = 0, dayOffset = 0) => new Date(2026, 2, 10 + dayOffset, h, m).getTime();

test('checkerWindow and checkerTimeout: defaults, a window across midnight, one-line errors naming the key', () => {
  const c = validateConfig(ServerConfigSchema, {}, 'server.yml');
  assert.equal(c.checkerWindow, '01:00-05:00');
  assert.equal(c.checkerTimeout, 2 * H);
  assert.equal(validateConfig(ServerConfigSchema, { checkerWindow: '22:30-02:00', checkerTimeout: '30m' }, 's').checkerTimeout, 30 * 60_000);
  assert.throws(
    () => validateConfig(ServerConfigSchema, { checkerWindow: '1-5' }, 'server.yml'),
    (e: Error & { code?: string }) => e.code === 'TW_CONFIG_INVALID' && /^config server.yml: key "checkerWindow": must be HH:MM-HH:MM/.test(e.message),
  );
  assert.throws(() => validateConfig(ServerConfigSchema, { checkerWindow: '03:00-03:00' }, 's'), /key "checkerWindow": must not start and end/);
  assert.throws(() => validateConfig(ServerConfigSchema, { checkerTimeout: 'soon' }, 's'), /key "checkerTimeout"/);

  const w = new CheckerWindow('22:00-02:00');
  assert.deepEqual(w.opening(at(12)), { start: at(22), end: at(2, 0, 1) }, 'crosses midnight: ends the next day');
  assert.equal(w.current(at(1, 0, 1), 0).start, at(22), 'at 01:00 the window that opened yesterday is current');
  assert.equal(w.current(at(3, 0, 1), TIMEOUT).start, at(22), 'still current while its runs may report');
  assert.equal(w.current(at(4, 1, 1), TIMEOUT).start, at(22, 0, 1), 'then the next');
});

test('stratify: one run per slot, every slot used, in a random order', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const m = stratify(48, 0, 48_000, random);
  const slots = m.map((t) => Math.floor(t / 1000)).sort((a, b) => a - b);
  assert.deepEqual(slots, [...Array(48).keys()]);
  assert.notDeepEqual(
    m.map((t) => Math.floor(t / 1000)),
    [...Array(48).keys()],
    'slots dealt in a shuffled order',
  );
});

describeEngines('the checker schedule', ({ open: openDb }) => {
  async function setup(o: { hosts?: string[]; window?: string; random?: () => number } = {}) {
    const db = await openDb();
    const clock = new FakeClock(MIDNIGHT);
    const alarms = new AlarmStore(db);
    const store = new CheckerStore(db);
    const sent: { host: string; m: RunChecker }[] = [];
    const live = new Set<string>();
    const addHost = (host: string) => db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [host, clock.now()]);
    const openKinds = async (host: string) => (await alarms.list({ open: true, host })).map((a) => a.kind).sort();
    for (const h of o.hosts ?? ['alpha']) {
      await addHost(h);
      await store.declare(h, [{ kind: 'aide', files: ['/usr/bin/aide', '/etc/aide/aide.conf', '/var/lib/aide/aide.db'] }], clock.now());
    }
    const sched = new CheckerScheduler(db, store, alarms, {
      window: new CheckerWindow(o.window ?? '01:00-05:00'),
      timeoutMs: TIMEOUT,
      clock,
      log: silentLogger(),
      connected: (h) => live.has(h),
      send: (host, m) => {
        sent.push({ host, m });
        return true;
      },
      random: o.random,
    });
    return { db, alarms, addHost, openKinds, clock, store, sched, sent, live };
  }

  test('each declared checker gets one moment a day inside the window, spread over it, a new one each day', async () => {
    const hosts = Array.from({ length: 40 }, (_, i) => `h${String(i).padStart(2, '0')}`);
    const { sched, store, clock } = await setup({ hosts });
    assert.equal(await sched.plan(clock.now()), 40);
    assert.equal(await sched.plan(clock.now()), 0, 'planning again adds nothing');
    const day1 = new Map((await store.list()).map((r) => [r.host, r.scheduledAt]));
    const moments = [...day1.values()].sort((a, b) => a - b);
    assert.ok(moments[0]! >= at(1) && moments.at(-1)! < at(5), 'all inside 01:00-05:00');
    // Stratified: each 6-minute slice of the 4-hour window holds exactly one run.
    const slots = moments.map((t) => Math.floor((t - at(1)) / (6 * 60_000)));
    assert.deepEqual(slots, [...Array(40).keys()]);
    for (const r of await store.list()) assert.equal(r.deadlineAt, at(5) + TIMEOUT);

    // After the window and its timeout, the next day's window is planned, with new moments.
    clock.advance(at(7, 1) - clock.now());
    assert.equal(await sched.plan(clock.now()), 40);
    const day2 = (await store.list()).filter((r) => r.windowStart === at(1, 0, 1));
    assert.equal(day2.length, 40);
    for (const r of day2) assert.ok(r.scheduledAt >= at(1, 0, 1) && r.scheduledAt < at(5, 0, 1));
    const same = day2.filter((r) => r.scheduledAt - 86_400_000 === day1.get(r.host)).length;
    assert.ok(same === 0, `${same} host(s) kept yesterday's moment`);
  });

  test('a host that declares a checker mid-window is planned in what is left of it; revoked hosts are not', async () => {
    const { sched, store, clock, addHost, db } = await setup();
    clock.advance(at(3) - clock.now());
    await sched.plan(clock.now());
    await addHost('late');
    await store.declare('late', [{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }], clock.now());
    await addHost('gone');
    await store.declare('gone', [{ kind: 'aide', files: ['/usr/bin/aide'] }], clock.now());
    await db.run(`UPDATE hosts SET state = 'revoked' WHERE host = 'gone'`);
    assert.equal(await sched.plan(clock.now()), 1);
    const late = await store.list({ host: 'late' });
    assert.equal(late.length, 1);
    assert.equal(late[0]!.checker, 'tripwire');
    assert.ok(late[0]!.scheduledAt >= at(3) && late[0]!.scheduledAt < at(5));
    assert.equal((await store.list({ host: 'gone' })).length, 0);
  });

  test('a due run is sent only to a connected host, once, with the baseline hash of each declared file that has one', async () => {
    const { sched, store, clock, sent, live, db } = await setup({ random: () => 0 });
    const base = (...args: unknown[]) => db.run(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES ('alpha', 'file', ?, ?, ?, 0)`, args);
    await base('/usr/bin/aide', JSON.stringify({ sha256: 'a'.repeat(64), class: 'critical' }), null);
    await base('/etc/aide/aide.conf', JSON.stringify({ sha256: 'b'.repeat(64), class: 'critical' }), null);
    // The database has a current state but no baseline hash: it is left out, so the agent refuses the run.
    await base('/var/lib/aide/aide.db', null, JSON.stringify({ sha256: 'c'.repeat(64) }));
    await sched.plan(clock.now());
    const [run] = await store.list();
    assert.equal(run!.scheduledAt, at(1), 'random 0: the start of the first slot');

    clock.advance(at(1) - clock.now() - 1);
    assert.equal(await sched.dispatch(clock.now()), 0, 'not due yet');
    clock.advance(1);
    assert.equal(await sched.dispatch(clock.now()), 0, 'due, but the host is offline');
    assert.equal((await store.get(run!.id))!.status, 'scheduled');

    clock.advance(3 * H); // 04:00: connects late, still inside the window
    live.add('alpha');
    assert.equal(await sched.dispatch(clock.now()), 1);
    assert.equal(await sched.dispatch(clock.now()), 0, 'sent once');
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.m, {
      type: 'run-checker',
      runId: run!.id,
      checker: 'aide',
      expect: [
        { path: '/usr/bin/aide', sha256: 'a'.repeat(64) },
        { path: '/etc/aide/aide.conf', sha256: 'b'.repeat(64) },
      ],
      timeoutMs: TIMEOUT,
    });
    const r = (await store.get(run!.id))!;
    assert.equal(r.status, 'running');
    assert.equal(r.sentAt, at(4));

    // Sent near the deadline, the agent's timeout is what is left of it.
    const id = await store.schedule(
      { host: 'alpha', checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: clock.now(), deadlineAt: clock.now() + 10 * 60_000 },
      clock.now(),
    );
    await sched.dispatch(clock.now());
    assert.equal(sent.find((s) => s.m.runId === id)!.m.timeoutMs, 10 * 60_000);
  });

  test('no result by window end plus checkerTimeout: missed, with why, and checker-missed opened', async () => {
    const { sched, store, clock, live, openKinds, alarms } = await setup({ hosts: ['alpha', 'bravo', 'carol'] });
    await sched.plan(clock.now());
    await store.declare('carol', [], clock.now()); // carol's agent no longer names a checker
    clock.advance(at(4, 59) - clock.now());
    live.add('bravo');
    await sched.dispatch(clock.now());
    clock.advance(at(7) - clock.now() - 1);
    assert.equal(await sched.sweep(clock.now()), 0, 'not before the deadline');
    clock.advance(1);
    assert.equal(await sched.sweep(clock.now()), 3);
    const why = Object.fromEntries((await store.list()).map((r) => [r.host, `${r.status}: ${r.reason}`]));
    assert.deepEqual(why, {
      alpha: 'missed: the host was not connected while the run was due',
      bravo: 'missed: sent, but no result came by the deadline',
      carol: 'missed: the host no longer declares aide',
    });
    assert.deepEqual(await openKinds('alpha'), ['checker-missed']);
    assert.equal((await alarms.list({ host: 'bravo' }))[0]!.subject, 'aide');
    assert.equal(await sched.sweep(clock.now()), 0, 'once');
    // A host offline past the deadline is not sent the run when it comes back.
    live.add('alpha');
    assert.equal(await sched.dispatch(clock.now()), 0);
  });

  test('tick plans, sends and sweeps on the fake clock: due runs go out within a second', async () => {
    const { sched, store, clock, live, sent } = await setup();
    live.add('alpha');
    await sched.tick();
    assert.equal((await store.list()).length, 1);
    const due = (await store.list())[0]!.scheduledAt;
    while (clock.now() < due) {
      clock.advance(250);
      await sched.tick();
    }
    while (sent.length === 0 && clock.now() < due + 5_000) {
      clock.advance(250);
      await sched.tick();
    }
    assert.equal(sent.length, 1, 'sent once');
    assert.ok((await store.get(sent[0]!.m.runId))!.sentAt! - due <= 1_000, 'within a second of its moment');
  });
});

test('two instances on one PostgreSQL database: a window is planned once, and a missed run opens one alarm', { skip: PG_SKIP ?? false }, async () => {
  const t = await openTestDb('postgres');
  const second = openSqlDb(t.target, PG_MIGRATIONS);
  try {
    const clock = new FakeClock(MIDNIGHT);
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}`);
    const first = new CheckerStore(t.db);
    for (const h of hosts) {
      await t.db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', 0)`, [h]);
      await first.declare(h, [{ kind: 'aide', files: ['/usr/bin/aide'] }], clock.now());
    }
    const scheds = [t.db, second].map(
      (db) =>
        new CheckerScheduler(db, new CheckerStore(db), new AlarmStore(db), {
          window: new CheckerWindow('01:00-05:00'),
          timeoutMs: TIMEOUT,
          clock,
          log: silentLogger(),
          connected: () => false,
          send: () => false,
        }),
    );
    const planned = await Promise.all(scheds.map((s) => s.plan(clock.now())));
    assert.equal(planned[0]! + planned[1]!, 20, `planned ${planned.join(' + ')}`);
    assert.equal((await first.list()).length, 20, 'one run per host');
    clock.advance(at(7) - clock.now());
    const missed = await Promise.all(scheds.map((s) => s.sweep(clock.now())));
    assert.equal(missed[0]! + missed[1]!, 20, `marked ${missed.join(' + ')}`);
    const alarms = await t.db.all<{ host: string; n: number }>(`SELECT host, count(*) AS n FROM alarms WHERE kind = 'checker-missed' GROUP BY host`);
    assert.equal(alarms.length, 20);
    assert.ok(
      alarms.every((a) => a.n === 1),
      'one alarm per missed run',
    );
  } finally {
    await second.close();
    await t.cleanup();
  }
});
