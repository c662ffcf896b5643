/**
 * What a checker's records do on the server: the result stored with its entries, the alarms it opens and
 * resolves (findings critical when a changed path is critical in the baseline, refused = tampered, naming the
 * files), output appended and bounded, accept recorded against the checker's database; and records that
 * name an unknown run, another host's run or a run never sent dropped without a throw. Both engines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { CheckerResults, OUTPUT_MAX_CHARS, RESULT_ALARMS } from '../../../server/checkers/checker-results.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import type { CheckerResultBody } from '../../../shared/checker-messages.ts';
import { createLogger } from '../../../shared/log.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const DB1 = '1'.repeat(64);
const DB2 = '2'.repeat(64);

describeEngines('checker results', ({ engine, open: openDb }) => {
  async function setup() {
    const db = await openDb();
    const clock = new FakeClock();
    const alarms = new AlarmStore(db);
    const logged: Record<string, unknown>[] = [];
    const log = createLogger('test', { level: 'info', destination: { write: (l: string) => logged.push(JSON.parse(l)) } as never });
    const store = new CheckerStore(db);
    const results = new CheckerResults(db, store, alarms, log);
    for (const h of ['alpha', 'bravo']) await db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [h, clock.now()]);
    await db.run(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES ('alpha', 'file', '/etc/passwd', ?, NULL, 0)`, [
      JSON.stringify({ class: 'critical', sha256: 'e'.repeat(64) }),
    ]);
    const now = () => clock.now();
    /** A run of alpha's aide, sent. */
    const sentRun = async (host = 'alpha') => {
      const id = await store.schedule({ host, checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: now(), deadlineAt: now() + 7_200_000 }, now());
      await store.markSent(id, now());
      return id;
    };
    const result = (runId: string, over: Partial<CheckerResultBody> = {}) => checkerResult(runId, { finishedAt: now() + 1000, dbSha256: DB1, ...over }, now());
    const open = async (host = 'alpha') => (await alarms.list({ open: true, host })).map((a) => `${a.kind}/${a.subject}/${a.severity}`);
    return { db, clock, alarms, store, results, sentRun, result, open, logged, now };
  }

  test('findings: stored with their entries; a critical baseline file makes the alarm critical; ok resolves every checker alarm', async () => {
    const { results, store, sentRun, result, open, now, alarms } = await setup();
    const a = await sentRun();
    const opened = await results.apply(
      'alpha',
      result(a, {
        status: 'findings',
        exitCode: 4,
        changed: 1,
        added: 1,
        entries: [
          { path: '/etc/motd', change: 'changed', attrs: ['sha256', 'mtime'] },
          { path: '/tmp/x', change: 'added', attrs: [] },
        ],
      }),
      now(),
    );
    assert.equal(opened.length, 1);
    assert.deepEqual(await open(), ['checker-findings/aide/warning']);
    const run = (await store.get(a))!;
    assert.deepEqual([run.status, run.exitCode, run.added, run.changed, run.dbSha256], ['findings', 4, 1, 1, DB1]);
    assert.deepEqual(
      (await store.entries(a)).map((e) => `${e.change} ${e.path} ${e.attrs.join(',')} ${e.critical}`),
      ['changed /etc/motd sha256,mtime false', 'added /tmp/x  false'],
    );

    // The next run touches /etc/passwd, critical in alpha's baseline: the alarm comes back critical, naming it.
    const b = await sentRun();
    await results.apply('alpha', result(b, { status: 'findings', changed: 1, entries: [{ path: '/etc/passwd', change: 'changed', attrs: ['sha256'] }] }), now());
    assert.deepEqual(await open(), ['checker-findings/aide/critical']);
    assert.deepEqual(((await alarms.list({ open: true, host: 'alpha' }))[0]!.detail as { paths: string[] }).paths, ['changed /etc/passwd']);

    const c = await sentRun();
    await results.apply('alpha', result(c, { status: 'failed', exitCode: 17, reason: 'aide: cannot open database' }), now());
    assert.deepEqual(await open(), ['checker-failed/aide/warning', 'checker-findings/aide/critical']);
    await results.apply('alpha', result(await sentRun()), now());
    assert.deepEqual(await open(), [], 'a clean run resolves every checker alarm');
  });

  test('refused: checker-tampered, critical, naming the files that differ', async () => {
    const { results, store, sentRun, result, open, now, alarms } = await setup();
    const id = await sentRun();
    await results.apply(
      'alpha',
      result(id, {
        status: 'refused',
        exitCode: null,
        dbSha256: null,
        reason: 'files differ from the server baseline',
        refused: [{ path: '/usr/bin/aide', expected: 'a'.repeat(64), actual: 'b'.repeat(64) }],
      }),
      now(),
    );
    assert.equal((await store.get(id))!.status, 'refused');
    assert.deepEqual(await open(), ['checker-tampered/aide/critical']);
    assert.deepEqual(((await alarms.list({ host: 'alpha' }))[0]!.detail as { files: string[] }).files, ['/usr/bin/aide']);
  });

  test('accept records the entries against the checker database: the same entries no longer alarm until the database changes', async () => {
    const { results, sentRun, result, open, now } = await setup();
    const entries = [{ path: '/etc/motd', change: 'changed' as const, attrs: ['sha256'] }];
    await results.apply('alpha', result(await sentRun(), { status: 'findings', changed: 1, entries }), now());
    assert.deepEqual(await results.accept('alpha', ['/etc'], now()), { entries: 1, resolved: 1, matched: ['/etc'] });
    assert.deepEqual(await open(), []);
    await results.apply('alpha', result(await sentRun(), { status: 'findings', changed: 1, entries }), now());
    assert.deepEqual(await open(), [], 'accepted against the same database: no alarm');
    await results.apply(
      'alpha',
      result(await sentRun(), { status: 'findings', changed: 2, entries: [...entries, { path: '/etc/hosts', change: 'changed', attrs: ['sha256'] }] }),
      now(),
    );
    assert.deepEqual(await open(), ['checker-findings/aide/warning'], 'a new entry alarms');
    await results.apply('alpha', result(await sentRun(), { status: 'findings', changed: 1, entries, dbSha256: DB2 }), now());
    assert.deepEqual(await open(), ['checker-findings/aide/warning'], 'another database: the old acceptance does not apply');
    await results.accept('alpha', null, now());
    assert.deepEqual(await open(), []);
  });

  test('records for an unknown run, another host, a run never sent or already ended are logged and dropped', async () => {
    const { results, store, sentRun, result, open, now, logged } = await setup();
    const mine = await sentRun('alpha');
    const unsent = await store.schedule({ host: 'alpha', checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: now(), deadlineAt: now() + 1 }, now());
    const bad = result(mine, { status: 'findings', changed: 1, entries: [{ path: '/x', change: 'changed', attrs: [] }] });
    assert.deepEqual(await results.apply('alpha', { ...bad, runId: '00000000-0000-4000-8000-000000000000' }, now()), []);
    assert.deepEqual(await results.apply('bravo', bad, now()), []);
    assert.deepEqual(await results.apply('alpha', { ...bad, runId: unsent }, now()), []);
    assert.deepEqual(await results.apply('alpha', { ...bad, checker: 'tripwire' }, now()), []);
    assert.equal((await store.get(mine))!.status, 'running');
    assert.equal((await store.get(unsent))!.status, 'scheduled');
    assert.deepEqual([...(await open('alpha')), ...(await open('bravo'))], []);
    await results.apply('alpha', result(mine), now());
    assert.deepEqual(await results.apply('alpha', bad, now()), [], 'already ended');
    assert.equal((await store.get(mine))!.status, 'ok');
    const why = logged.filter((l) => l.msg === 'checker record dropped').map((l) => l.why);
    assert.deepEqual(why, [
      'no such run',
      'the run belongs to another host',
      'the run was never sent (status scheduled)',
      'the run is of aide, the result of tripwire',
      'the run already ended (ok)',
    ]);
  });

  test('a result spooled past the deadline still counts: the missed run takes it, the missed alarm stays until a clean run', async () => {
    const { results, store, sentRun, result, open, now, alarms } = await setup();
    const id = await sentRun();
    await store.markMissed(id, 'sent, but no result came by the deadline', now());
    await alarms.open('alpha', 'checker-missed', 'aide', now());
    await results.apply('alpha', result(id, { status: 'findings', added: 1, entries: [{ path: '/tmp/new', change: 'added', attrs: [] }] }), now());
    assert.equal((await store.get(id))!.status, 'findings');
    assert.deepEqual(await open(), ['checker-findings/aide/warning', 'checker-missed/aide/warning']);
  });

  test('raw output is appended part by part and cut at the bound', async () => {
    const { results, store, sentRun, now } = await setup();
    const id = await sentRun();
    const part = 'x'.repeat(32 * 1024);
    for (let i = 0; i < 40; i++) await results.apply('alpha', { kind: 'checker-output', runId: id, part: i, text: i === 0 ? 'AIDE found differences\n' : part }, now());
    const out = (await store.output(id))!;
    assert.equal(out.text.length, OUTPUT_MAX_CHARS);
    assert.ok(out.text.startsWith('AIDE found differences\n'));
    assert.equal(out.truncated, true);
  });

  test('the table: each ending opens its alarm kind, and ok resolves them all', async () => {
    const { results, sentRun, result, now, alarms } = await setup();
    const over = {
      findings: { status: 'findings', added: 1, entries: [{ path: '/tmp/a', change: 'added', attrs: [] }] },
      failed: { status: 'failed', reason: 'x' },
      refused: { status: 'refused', refused: [] },
    } as const;
    for (const [status, o] of Object.entries(over)) {
      const opened = await results.apply('alpha', result(await sentRun(), o as Partial<CheckerResultBody>), now());
      assert.deepEqual(
        opened.map((a) => a.kind),
        [RESULT_ALARMS[status as keyof typeof over]],
        status,
      );
    }
    assert.equal(RESULT_ALARMS.ok, null);
    assert.equal(RESULT_ALARMS.missed, 'checker-missed');
    await results.apply('alpha', result(await sentRun()), now());
    assert.deepEqual(await alarms.list({ open: true, host: 'alpha' }), []);
  });

  test('inside the ledger’s transaction a record that fails is undone alone, and the transaction goes on', async () => {
    const { db, results, store, sentRun, result, now, logged } = await setup();
    const id = await sentRun();
    // A NULL path breaks the entry's insert after the run's row was updated: the savepoint takes both back.
    const broken = result(id, { status: 'findings', added: 1, entries: [{ path: null as never, change: 'added', attrs: [] }] });
    await db.tx(async (tx) => {
      assert.deepEqual(await results.apply('alpha', broken, now(), tx), []);
      await tx.run(`UPDATE hosts SET grp = 'after' WHERE host = 'alpha'`);
    });
    assert.equal((await store.get(id))!.status, 'running', 'the record’s effect is undone');
    assert.equal((await db.get<{ grp: string }>(`SELECT grp FROM hosts WHERE host = 'alpha'`))!.grp, 'after', 'the rest of the transaction committed');
    assert.ok(logged.some((l) => l.msg === 'checker record not applied'));
    await db.tx(async (tx) => {
      assert.equal((await results.apply('alpha', result(id), now(), tx)).length, 0);
    });
    assert.equal((await store.get(id))!.status, 'ok', 'a good record inside a transaction is applied');
  });

  test('a hello declaring what is stored writes nothing; a changed declaration replaces it', async () => {
    const { store, db, now } = await setup();
    await store.declare('alpha', [{ kind: 'aide', files: ['/usr/bin/aide'] }], now());
    // SQLite counts every row its connection changed; on both engines the row keeps its first declared_at.
    const changes = async () => (engine === 'sqlite' ? (await db.get<{ n: number }>('SELECT total_changes() AS n'))!.n : 0);
    const declaredAt = async () => (await db.all<{ t: number }>('SELECT declared_at AS t FROM checker_hosts WHERE host = ?', ['alpha'])).map((r) => r.t);
    const before = await changes();
    await store.declare('alpha', [{ kind: 'aide', files: ['/usr/bin/aide'] }], now() + 1);
    assert.equal(await changes(), before);
    assert.deepEqual(await declaredAt(), [now()]);
    await store.declare('alpha', [{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }], now() + 2);
    assert.deepEqual(await store.declared('alpha'), [{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }]);
    await store.declare('alpha', [], now() + 3);
    assert.deepEqual(await store.declared('alpha'), []);
  });
});
