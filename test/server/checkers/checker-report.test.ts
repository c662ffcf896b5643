/**
 * The report's checker section: every host that declares a checker is listed, failed, missed and refused runs
 * (and checkers with no run in the period) first, then critical findings, then the rest; in `report` text and
 * in the daily mail, agent-supplied strings made safe. Both engines, results applied as the server applies them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { CheckerResults } from '../../../server/checkers/checker-results.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { buildReport } from '../../../server/reports/report.ts';
import { formatReportMail, formatReportText } from '../../../server/reports/report-format.ts';
import type { CheckerResultBody } from '../../../shared/checker-messages.ts';
import { silentLogger } from '../../../shared/log.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describeEngines('the report’s checker section', ({ open }) => {
  test('every host with a checker is accounted for: problems first, then critical findings, then the rest', async () => {
    const db = await open();
    const clock = new FakeClock();
    const alarms = new AlarmStore(db);
    const hostStore = new HostStore(db);
    const store = new CheckerStore(db);
    const results = new CheckerResults(db, store, alarms, silentLogger());
    const now = clock.now();
    const hosts = ['a-clean', 'b-findings', 'c-critical', 'd-failed', 'e-missed', 'f-never', 'g-refused', 'h-\x1b[2Jevil'];
    for (const h of hosts) {
      await db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [h, now]);
      await store.declare(h, [{ kind: 'aide', files: ['/usr/bin/aide'] }], now);
    }
    await db.run(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES ('c-critical', 'file', '/etc/shadow', ?, NULL, 0)`, [
      JSON.stringify({ class: 'critical' }),
    ]);
    const finish = async (host: string, over: Partial<CheckerResultBody>) => {
      const id = await store.schedule({ host, checker: 'aide', origin: 'window', windowStart: now, scheduledAt: now, deadlineAt: now + 1000 }, now);
      await store.markSent(id, now);
      await results.apply(host, checkerResult(id, { finishedAt: now + 10, ...over }, now), now);
      return id;
    };
    await finish('a-clean', {});
    await finish('b-findings', { status: 'findings', added: 1, entries: [{ path: '/tmp/\u202eevil', change: 'added', attrs: [] }] });
    await finish('c-critical', { status: 'findings', changed: 1, entries: [{ path: '/etc/shadow', change: 'changed', attrs: ['sha256'] }] });
    await finish('d-failed', { status: 'failed', exitCode: 17, reason: 'no database' });
    await finish('g-refused', { status: 'refused', exitCode: null, reason: 'checker files differ', refused: [{ path: '/usr/bin/aide', expected: null, actual: null }] });
    await finish('h-\x1b[2Jevil', {});
    const missed = await store.schedule({ host: 'e-missed', checker: 'aide', origin: 'window', windowStart: now, scheduledAt: now, deadlineAt: now + 1 }, now);
    await store.markMissed(missed, 'the host was not connected while the run was due', now + 20);

    const r = await buildReport(db, hostStore, now - 86_400_000, now + 60_000);
    assert.deepEqual(
      r.checkers.map((c) => `${c.standing} ${c.host}`),
      ['problem d-failed', 'problem e-missed', 'problem f-never', 'problem g-refused', 'critical c-critical', 'findings b-findings', 'ok a-clean', 'ok h-\x1b[2Jevil'],
    );
    const text = formatReportText(r);
    const section = text.slice(text.indexOf('== Checkers'));
    const at = (needle: string) => {
      const i = section.indexOf(needle);
      assert.ok(i >= 0, `${needle} in:\n${section}`);
      return i;
    };
    assert.ok(at('d-failed aide: failed: no database') < at('e-missed aide: missed: the host was not connected'));
    assert.ok(at('f-never aide: no run ended in this period') < at('g-refused aide: refused: checker files differ'));
    assert.ok(at('g-refused') < at('Critical findings (1):') && at('Critical findings (1):') < at('c-critical aide: findings 0 added, 0 removed, 1 changed (1 not accepted)'));
    assert.ok(at('    critical: /etc/shadow') < at('Other findings (1):'));
    assert.ok(at('b-findings aide: findings 1 added') < at('Clean (2):') && at('Clean (2):') < at('a-clean aide: ok'));
    assert.ok(section.includes('h-\\x1b[2Jevil aide: ok'));
    assert.doesNotMatch(text, /[\x1b\u202e]/);
    assert.ok(formatReportMail(r).text.includes('== Checkers (8 host checker(s)) =='), 'the daily mail carries the section');
  });
});
