import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { DashboardData } from '../../../server/dashboard/dashboard-data.ts';
import { LiveFeed } from '../../../server/dashboard/live-feed.ts';
import { html } from '../../../server/dashboard/template.ts';
import { HeartbeatRollup } from '../../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { Liveness } from '../../../server/liveness/liveness.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

function fixture(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tw-dd-'));
  const db = openDatabase(join(dir, 'db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const alarms = new AlarmStore(db);
  const hosts = new HostStore(db);
  const rollup = new HeartbeatRollup(db, clock);
  const liveness = new Liveness(db, { alarms, hosts, rollup }, clock, { graceMs: 1000, maxIntervalMs: 300_000 });
  return { db, clock, alarms, liveness, hosts, rollup, data: new DashboardData(db, hosts, () => rollup.flush()) };
}

test('heartbeats are rolled up per host and minute, and the bar shows gaps, thin minutes and no-data', (t) => {
  const { db, clock, liveness, rollup, data } = fixture(t);
  db.prepare(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', ?)`).run(clock.now() - 3 * 3_600_000);
  liveness.hello('a', { bootId: 'b1', seq: 1, interval: 10_000, agentVersion: '1', facts: {} });
  let seq = 2;
  // Minute 0: full (6 beats at 10 s); minute 1: silent; minute 2: two beats; minute 3 (now, 10 s old): one.
  for (let i = 0; i < 5; i++) {
    clock.advance(10_000);
    liveness.heartbeat('a', 'b1', seq++);
  }
  clock.advance(70_000);
  liveness.heartbeat('a', 'b1', seq++);
  clock.advance(10_000);
  liveness.heartbeat('a', 'b1', seq++);
  clock.advance(60_000);
  liveness.hello('a', { bootId: 'b1', seq: seq++, interval: 10_000, agentVersion: '1', facts: {} });
  rollup.flush(); // the counts are kept in memory between flushes
  const rows = db.prepare('SELECT minute, beats FROM heartbeat_minutes ORDER BY minute').all() as { minute: number; beats: number }[];
  assert.deepEqual(
    rows.map((r) => r.beats),
    [6, 2, 1],
  );
  assert.equal(liveness.beatsReceived, 9);
  const [row] = data.hostRows(clock.now());
  assert.equal(row!.bar.length, 60);
  assert.deepEqual(row!.bar.slice(-4), [3, 1, 2, 3]);
  // Older minutes of a host enrolled hours ago are gaps (no heartbeats at all then).
  assert.equal(row!.bar[0], 1);
});

test('a host enrolled within the hour shows no data before its first heartbeat, not a gap', (t) => {
  const { db, clock, liveness, data } = fixture(t);
  db.prepare(`INSERT INTO hosts (host, enrolled_at) VALUES ('new', ?)`).run(clock.now() - 5 * 60_000);
  liveness.hello('new', { bootId: 'b', seq: 1, interval: 10_000, agentVersion: '1', facts: {} });
  const bar = data.hostRows(clock.now())[0]!.bar;
  assert.deepEqual(bar.slice(0, 59), new Array(59).fill(0));
  assert.equal(bar[59], 3);
});

test('the live feed pushes the rows when a status changes, and not otherwise before its refresh', (t) => {
  const { db, clock, liveness, data } = fixture(t);
  db.prepare(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', ?)`).run(clock.now());
  liveness.hello('a', { bootId: 'b', seq: 1, interval: 1000, agentVersion: '1', facts: {} });
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
  feed.add(res, {});
  const events = () => chunks.filter((c) => c.startsWith('event: hosts'));
  assert.equal(events().length, 1, 'the current rows at once');
  clock.advance(250);
  const n = events().length;
  clock.advance(500);
  assert.equal(events().length, n, 'nothing changed, nothing pushed');
  clock.advance(2500); // past the deadline (2 × 1 s + 1 s grace): the sweep marks it missing
  liveness.sweep();
  clock.advance(250);
  const last = JSON.parse(events().at(-1)!.split('data: ')[1]!) as { hosts: { host: string; status: string }[] };
  assert.equal(last.hosts[0]!.status, 'missing');
});

test('a live client that stops reading is dropped once a mebibyte waits unread, not buffered without end', (t) => {
  const { db, clock, data } = fixture(t);
  db.prepare(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', ?)`).run(clock.now());
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
  feed.add(res, {});
  clock.advance(1_250);
  assert.equal(destroyed, false, 'a little backlog is tolerated');
  res.writableLength = 2 << 20;
  const before = writes;
  clock.advance(1_250);
  assert.equal(destroyed, true);
  assert.equal(writes, before, 'nothing more is queued for it');
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
