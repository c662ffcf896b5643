/**
 * Two `serve` instances on one database, each on its own connection (a real SQLite file, or one PostgreSQL
 * database), both seeing the host connected (the agent moving between them, or a clone): a window is planned
 * once, `run-checker` issued through both at once schedules one run, and every run reaches the agent once.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { CheckerScheduler } from '../../../server/checkers/checker-scheduler.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import { CheckerWindow } from '../../../server/checkers/checker-window.ts';
import { scheduleRunNow } from '../../../server/checkers/run-now.ts';
import type { ServerConfig } from '../../../server/config.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import type { RunChecker } from '../../../shared/checker-messages.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb, type TestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const TIMEOUT = 2 * 3_600_000;
const MIDNIGHT = new Date(2026, 2, 10).getTime();

describeEngines('checker runs with two instances on one database', ({ engine }) => {
  const stores: TestDb[] = [];
  const extra: SqlDb[] = [];
  after(async () => {
    for (const db of extra) await db.close();
    for (const t of stores) await t.cleanup();
  });

  async function setup(hosts: string[]) {
    const t = await openTestDb(engine);
    stores.push(t);
    const second = openSqlDb(t.target, PG_MIGRATIONS);
    extra.push(second);
    // Connected (and migrated) before the race: a cold pool would let the first instance finish alone.
    await second.ready();
    const clock = new FakeClock(MIDNIGHT);
    const first = new CheckerStore(t.db);
    for (const h of hosts) {
      await t.db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', 0)`, [h]);
      await first.declare(h, [{ kind: 'aide', files: ['/usr/bin/aide'] }], clock.now());
    }
    /** What reached the agent, from either instance. */
    const sent: { instance: number; host: string; m: RunChecker }[] = [];
    const instances = [t.db, second].map((db, i) => ({
      db,
      store: new CheckerStore(db),
      hosts: new HostStore(db),
      sched: new CheckerScheduler(db, new CheckerStore(db), new AlarmStore(db), {
        window: new CheckerWindow('01:00-05:00'),
        timeoutMs: TIMEOUT,
        clock,
        log: silentLogger(),
        connected: () => true,
        send: (host, m) => {
          sent.push({ instance: i, host, m });
          return true;
        },
        random: () => 0.5,
      }),
    }));
    return { clock, first, instances, sent };
  }

  /**
   * Runs `fn` on both instances at once on PostgreSQL. On SQLite one after the other: one process cannot hold
   * two writers on one file (the second's busy wait blocks the thread the first needs to commit); two
   * processes are serialized by BEGIN IMMEDIATE, which this order stands for.
   */
  async function both<T>(xs: readonly T[], fn: (x: T) => Promise<unknown>): Promise<unknown[]> {
    if (engine === 'postgres') return Promise.all(xs.map(fn));
    const out: unknown[] = [];
    for (const x of xs) out.push(await fn(x));
    return out;
  }

  test('the window planned at once by both: one run per declared checker, each sent once though both hold the host', async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}`);
    const { clock, first, instances, sent } = await setup(hosts);
    const planned = (await both(instances, (x) => x.sched.plan(clock.now()))) as number[];
    assert.equal(planned[0]! + planned[1]!, 20, `planned ${planned.join(' + ')}`);
    assert.equal((await first.list({ limit: 1000 })).length, 20);
    clock.advance(5 * 3_600_000);
    for (let pass = 0; pass < 3; pass++) await Promise.all(instances.map((x) => x.sched.dispatch(clock.now())));
    const ids = sent.map((s) => s.m.runId);
    assert.equal(ids.length, 20, `sent ${ids.length}`);
    assert.equal(new Set(ids).size, 20, 'no run sent twice');
  });

  test('run-checker through both instances at once: one operator run, sent once', async () => {
    const { clock, first, instances, sent } = await setup(['h1']);
    const ctx = (x: (typeof instances)[number]) => ({ sql: x.db, hosts: x.hosts, checkers: x.store, config: { checkerTimeout: TIMEOUT } as ServerConfig });
    const [a, b] = (await both(instances, (x) => scheduleRunNow(ctx(x), 'h1', clock.now()))) as Awaited<ReturnType<typeof scheduleRunNow>>[];
    const runs = (await first.list({ host: 'h1' })).filter((r) => r.origin === 'operator');
    assert.equal(runs.length, 1, `operator runs: ${JSON.stringify({ a, b })}`);
    assert.equal(a![0]!.id, b![0]!.id, 'both name the one run');
    assert.equal([a![0]!.existing, b![0]!.existing].filter(Boolean).length, 1, 'one made it, the other found it');
    await Promise.all(instances.map((x) => x.sched.dispatch(clock.now())));
    await Promise.all(instances.map((x) => x.sched.dispatch(clock.now())));
    assert.deepEqual(
      sent.map((s) => s.m.runId),
      [runs[0]!.id],
    );
  });
});
