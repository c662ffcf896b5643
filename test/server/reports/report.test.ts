import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { reportPage } from '../../../server/dashboard/views-alarms.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { buildReport } from '../../../server/reports/report.ts';
import { formatReportMail, formatReportText } from '../../../server/reports/report-format.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { describeEngines } from '../../helpers/engines.ts';

const NOW = Date.UTC(2026, 0, 2, 7, 0, 0);
const H = 3_600_000;

async function fixture(db: SqlDb) {
  const alarms = new AlarmStore(db);
  const host = (name: string, f: { lastSeen?: number | null; due?: number; state?: string } = {}) =>
    db.run(`INSERT INTO hosts (host, enrolled_at, last_seen, late_at, due_at, state, status) VALUES (?, ?, ?, ?, ?, ?, 'up')`, [
      name,
      NOW - 48 * H,
      f.lastSeen === undefined ? NOW - 1000 : f.lastSeen,
      (f.due ?? NOW + 10_000) - 5000,
      f.due ?? NOW + 10_000,
      f.state ?? 'active',
    ]);
  await host('quiet1');
  await host('gone', { lastSeen: NOW - 2 * H, due: NOW - H });
  await host('changed');
  await host('warned');
  await host('old-critical');
  await alarms.open('gone', 'agent-missing', 'no heartbeat before the deadline', NOW - H);
  await alarms.open('changed', 'file-changed', '/usr/sbin/cron changed', NOW - 3 * H, { old: 'a', new: 'b' });
  await alarms.open('warned', 'network-lost', 'route gone', NOW - 2 * H);
  await alarms.resolve('warned', 'network-lost', NOW - H);
  await alarms.open('old-critical', 'file-added', 'x', NOW - 72 * H);
  await alarms.resolve('old-critical', 'file-added', NOW - 50 * H);
  await db.run('INSERT INTO heartbeat_minutes (host, minute, beats) VALUES (?, ?, ?)', ['quiet1', Math.floor((NOW - H) / 60_000), 6]);
  return { db, hosts: new HostStore(db) };
}

describeEngines('the daily report', ({ open }) => {
  test('the report accounts for every host: errors and missing first, then critical, warnings, quiet', async () => {
    const { db, hosts } = await fixture(await open());
    const r = await buildReport(db, hosts, NOW - 24 * H, NOW);
    const names = (s: keyof typeof r.sections) => r.sections[s].map((h) => h.host);
    assert.deepEqual(names('errors'), ['gone']);
    assert.deepEqual(names('critical'), ['changed']);
    assert.deepEqual(names('warnings'), ['warned'], 'an alarm resolved within the window still counts');
    assert.deepEqual(names('quiet').sort(), ['old-critical', 'quiet1'], 'alarms resolved before the window do not');
    assert.equal(r.totals.hosts, 5);
    assert.equal(r.sections.quiet.find((h) => h.host === 'quiet1')!.beats, 6);

    const text = formatReportText(r);
    const at = (s: string) => text.indexOf(s);
    assert.ok(at('Errors and missing hosts (1)') < at('Critical changes (1)'));
    assert.ok(at('Critical changes (1)') < at('Warnings (1)'));
    assert.ok(at('Warnings (1)') < at('Quiet hosts (no alarms) (2)'));
    assert.match(text, /gone \(default\) missing, last seen 2h ago/);
    assert.match(text, /#\d+ \[critical\] file-changed: \/usr\/sbin\/cron changed \(opened .*, OPEN\)/);
    assert.match(formatReportMail(r).subject, /^\[critical\] report 2026-01-02: 5 hosts, 1 errors, 1 critical, 1 warnings$/);
  });

  test('a shorter window moves hosts whose alarms are older into quiet', async () => {
    const { db, hosts } = await fixture(await open());
    const r = await buildReport(db, hosts, NOW - 30 * 60_000, NOW);
    assert.deepEqual(r.sections.warnings, []);
    assert.deepEqual(
      r.sections.critical.map((h) => h.host),
      ['changed'],
      'an alarm still open is always reported',
    );
  });

  test('the report agrees with the open alarms: a critical change on a silent host is counted and said to be under errors', async () => {
    const { db, hosts } = await fixture(await open());
    const alarms = new AlarmStore(db);
    await alarms.open('gone', 'file-changed', '/usr/bin/sudo', NOW - 30 * 60_000, { path: '/usr/bin/sudo' });
    const r = await buildReport(db, hosts, NOW - 24 * H, NOW);
    const openAlarms = (await db.get<{ n: number; c: number }>(
      `SELECT COUNT(*) AS n, SUM(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END) AS c FROM alarms WHERE resolved_at IS NULL`,
    ))!;
    assert.equal(r.totals.openNow, openAlarms.n);
    assert.equal(r.totals.openCritical, openAlarms.c, 'the same count as `alarms --open` at critical');
    assert.deepEqual(
      r.sections.errors.map((h) => h.host),
      ['gone'],
    );
    const text = formatReportText(r);
    assert.match(text, /Critical changes \(1; 1 more with open critical alarms, listed under errors\):/);
    assert.match(text, new RegExp(`${openAlarms.n} open now, ${openAlarms.c} of them critical; 1 host\\(s\\) with open critical changes are listed under errors\\.`));
    const page = reportPage({ id: 'x', user: 'admin', csrf: 'c', expiresAt: 0 }, r, '24h');
    assert.match(page, /Critical changes \(1 host; 1 more with open critical changes, listed under errors because their agent is silent or stopped\)/);
    assert.match(page, new RegExp(`${openAlarms.n} open now, ${openAlarms.c} of them critical`));
  });

  test('a host with more alarms than the report lists says how many more, in text and on the page', async () => {
    const { db, hosts } = await fixture(await open());
    const alarms = new AlarmStore(db);
    for (let i = 0; i < 25; i++) await alarms.open('changed', 'file-added', `/etc/cron.d/f${i}`, NOW - H, { path: `/etc/cron.d/f${i}` });
    const r = await buildReport(db, hosts, NOW - 24 * H, NOW);
    assert.match(formatReportText(r), /… and 6 more \(see `alarms --host changed`\)/);
    const page = reportPage({ id: 'x', user: 'admin', csrf: 'c', expiresAt: 0 }, r, '24h');
    assert.match(page, /<a href="\/hosts\/changed\?state=all">and 16 more<\/a>/);
  });
});
