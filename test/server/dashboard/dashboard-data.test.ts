import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { DashboardData } from '../../../server/dashboard/dashboard-data.ts';
import { LiveFeed } from '../../../server/dashboard/live-feed.ts';
import { html } from '../../../server/dashboard/template.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { Liveness } from '../../../server/liveness/liveness.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describeEngines('the dashboard data', ({ open }) => {
  async function fixture() {
    const db = await open();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const alarms = new AlarmStore(db);
    const hosts = new HostStore(db);
    const rollup = new HeartbeatRollup(db, clock);
    const liveness = new Liveness(db, { alarms, hosts, rollup }, clock, { graceMs: 1000, maxIntervalMs: 300_000 });
    return { db, clock, alarms, liveness, hosts, rollup, data: new DashboardData(db, hosts, () => rollup.flush()) };
  }

  const addHost = (db: SqlDb, host: string, at: number) => db.run('INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)', [host, at]);

  test('heartbeats are rolled up per host and minute, and the bar shows gaps, thin minutes and no-data', async () => {
    const { db, clock, liveness, rollup, data } = await fixture();
    await addHost(db, 'a', clock.now() - 3 * 3_600_000);
    await liveness.hello('a', { bootId: 'b1', seq: 1, interval: 10_000, agentVersion: '1', facts: {} });
    let seq = 2;
    // Minute 0: full (6 beats at 10 s); minute 1: silent; minute 2: two beats; minute 3 (now, 10 s old): one.
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await liveness.heartbeat('a', 'b1', seq++);
    }
    clock.advance(70_000);
    await liveness.heartbeat('a', 'b1', seq++);
    clock.advance(10_000);
    await liveness.heartbeat('a', 'b1', seq++);
    clock.advance(60_000);
    await liveness.hello('a', { bootId: 'b1', seq: seq++, interval: 10_000, agentVersion: '1', facts: {} });
    await rollup.flush(); // the counts are kept in memory between flushes
    const rows = await db.all<{ minute: number; beats: number }>('SELECT minute, beats FROM heartbeat_minutes ORDER BY minute');
    assert.deepEqual(
      rows.map((r) => r.beats),
      [6, 2, 1],
    );
    assert.equal(liveness.beatsReceived, 9);
    const [row] = await data.hostRows(clock.now());
    assert.equal(row!.bar.length, 60);
    assert.deepEqual(row!.bar.slice(-4), [3, 1, 2, 3]);
    // Older minutes of a host enrolled hours ago are gaps (no heartbeats at all then).
    assert.equal(row!.bar[0], 1);
  });

  test('a host enrolled within the hour shows no data before its first heartbeat, not a gap', async () => {
    const { db, clock, liveness, data } = await fixture();
    await addHost(db, 'new', clock.now() - 5 * 60_000);
    await liveness.hello('new', { bootId: 'b', seq: 1, interval: 10_000, agentVersion: '1', facts: {} });
    const bar = (await data.hostRows(clock.now()))[0]!.bar;
    assert.deepEqual(bar.slice(0, 59), new Array(59).fill(0));
    assert.equal(bar[59], 3);
  });

  test('the worst open alarm and the critical count are per host, and resolved alarms do not count', async () => {
    const { db, clock, alarms, data } = await fixture();
    for (const h of ['a', 'b', 'c']) await addHost(db, h, clock.now());
    await alarms.open('a', 'file-changed', '/etc/x', clock.now());
    await alarms.open('a', 'file-changed', '/etc/y', clock.now());
    await alarms.open('b', 'file-changed', '/etc/z', clock.now(), null, 'warning');
    await alarms.open('c', 'file-changed', '/etc/w', clock.now());
    await alarms.resolve('c', 'file-changed', clock.now(), '/etc/w');
    const byHost = new Map((await data.hostRows(clock.now())).map((r) => [r.host, r]));
    assert.deepEqual([byHost.get('a')!.worst, byHost.get('a')!.criticalOpen], ['critical', 2]);
    assert.deepEqual([byHost.get('b')!.worst, byHost.get('b')!.criticalOpen], ['warning', 0]);
    assert.deepEqual([byHost.get('c')!.worst, byHost.get('c')!.criticalOpen], [null, 0]);
  });

  test('alarms filter, count and page newest first, and one alarm reads back by id', async () => {
    const { db, clock, alarms, data } = await fixture();
    for (const h of ['a', 'b']) await addHost(db, h, clock.now());
    for (let i = 0; i < 5; i++) await alarms.open('a', 'file-changed', `/etc/${i}`, clock.now());
    await alarms.open('b', 'file-changed', '/etc/b', clock.now(), null, 'warning');
    await alarms.resolve('a', 'file-changed', clock.now(), '/etc/0');
    assert.equal(await data.countAlarms({}), 5, 'open by default');
    assert.equal(await data.countAlarms({ state: 'all' }), 6);
    assert.equal(await data.countAlarms({ host: 'a' }), 4);
    assert.equal(await data.countAlarms({ severity: 'warning' }), 1);
    const page = await data.alarms({ host: 'a', limit: 2, offset: 1 });
    assert.deepEqual(
      page.map((a) => a.subject),
      ['/etc/3', '/etc/2'],
    );
    const one = await data.alarm(page[0]!.id);
    assert.equal(one?.subject, '/etc/3');
    assert.equal(one?.resolvedAt, null);
    assert.equal(await data.alarm(999_999), undefined);
  });

  test('the fingerprint changes with a status, a group, a maintenance window, an alarm and an ack, and only then', async () => {
    const { db, clock, alarms, liveness, data } = await fixture();
    await addHost(db, 'a', clock.now());
    await addHost(db, 'b', clock.now());
    const seen = new Set<string>();
    const step = async (what: string) => {
      const fp = await data.fingerprint();
      assert.ok(!seen.has(fp), `${what} changes the fingerprint`);
      seen.add(fp);
      assert.equal(await data.fingerprint(), fp, 'the same rows give the same fingerprint');
    };
    await step('the first read');
    await liveness.hello('a', { bootId: 'b', seq: 1, interval: 1000, agentVersion: '1', facts: {} });
    await step('a status');
    await db.run(`UPDATE hosts SET grp = 'web' WHERE host = 'b'`);
    await step('a group');
    await liveness.setMaintenance('b', clock.now() + 60_000);
    await step('a maintenance window');
    const id = (await alarms.open('a', 'file-changed', '/etc/x', clock.now()))!;
    await step('an alarm');
    await alarms.ack(id, clock.now());
    await step('an ack');
  });

  test('an action is audited with its user, also on PostgreSQL where user is a reserved word', async () => {
    const { db, clock, data } = await fixture();
    await data.audit('admin', 'revoke', 'a', null, clock.now());
    await data.audit('ops', 'ack', null, '7', clock.now() + 1);
    const rows = await db.all('SELECT "user", action, host, arg, at FROM operator_actions ORDER BY at');
    assert.deepEqual(rows, [
      { user: 'admin', action: 'revoke', host: 'a', arg: null, at: clock.now() },
      { user: 'ops', action: 'ack', host: null, arg: '7', at: clock.now() + 1 },
    ]);
  });

  test('the live feed pushes the rows when a status changes, and not otherwise before its refresh', async (t) => {
    const { db, clock, liveness, data } = await fixture();
    await addHost(db, 'a', clock.now());
    await liveness.hello('a', { bootId: 'b', seq: 1, interval: 1000, agentVersion: '1', facts: {} });
    const feed = new LiveFeed(data, { clock, log: silentLogger(), pollMs: 250, refreshMs: 10_000 });
    const chunks: string[] = [];
    const res = {
      writeHead: () => res,
      write: (s: string) => {
        chunks.push(s);
        return true;
      },
      end: () => {},
      on: () => res,
    } as unknown as import('node:http').ServerResponse;
    feed.start();
    t.after(() => feed.stop());
    await feed.add(res, {});
    const events = () => chunks.filter((c) => c.startsWith('event: hosts'));
    assert.equal(events().length, 1, 'the current rows at once');
    clock.advance(250);
    await feed.settled();
    const n = events().length;
    clock.advance(500);
    await feed.settled();
    assert.equal(events().length, n, 'nothing changed, nothing pushed');
    clock.advance(2500); // past the deadline (2 × 1 s + 1 s grace): the sweep marks it missing
    await feed.settled();
    await liveness.sweep();
    clock.advance(250);
    await feed.settled();
    const last = JSON.parse(events().at(-1)!.split('data: ')[1]!) as { hosts: { host: string; status: string }[] };
    assert.equal(last.hosts[0]!.status, 'missing');
  });

  test('a live client that stops reading is dropped once a mebibyte waits unread, not buffered without end', async (t) => {
    const { db, clock, data } = await fixture();
    await addHost(db, 'a', clock.now());
    const feed = new LiveFeed(data, { clock, log: silentLogger(), pollMs: 250, refreshMs: 1_000 });
    let destroyed = false,
      writes = 0;
    const res = {
      writableLength: 0,
      writeHead: () => res,
      end: () => {},
      on: () => res,
      write: (s: string) => {
        res.writableLength += s.length;
        writes++;
        return false;
      },
      destroy: () => (destroyed = true),
    } as unknown as import('node:http').ServerResponse & { writableLength: number };
    feed.start();
    t.after(() => feed.stop());
    await feed.add(res, {});
    clock.advance(1_250);
    await feed.settled();
    assert.equal(destroyed, false, 'a little backlog is tolerated');
    res.writableLength = 2 << 20;
    const before = writes;
    clock.advance(1_250);
    await feed.settled();
    assert.equal(destroyed, true);
    assert.equal(writes, before, 'nothing more is queued for it');
  });
});

test('templates escape every interpolated value unless it is nested markup', () => {
  const evil = '<img src=x onerror=alert(1)>"\'&';
  assert.equal(
    html`<td title="${evil}">${evil}</td>`.value,
    '<td title="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;">&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</td>',
  );
  assert.equal(html`<ul>${[1, 2].map((i) => html`<li>${i}</li>`)}</ul>`.value, '<ul><li>1</li><li>2</li></ul>');
  assert.equal(html`${null}${undefined}${false}`.value, '');
});
