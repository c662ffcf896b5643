/**
 * Reading what the checkers say: recorded real reports (AIDE 0.18.3 plain
 * text, Open Source Tripwire 2.4.3.7 `twprint --report-level 3`, its
 * `twadmin --print-cfgfile`), AIDE configs, and the output cut into parts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readAideConfig } from '../../../agent/checker/aide-config.ts';
import { parseAideJson, parseAideText } from '../../../agent/checker/aide-report.ts';
import { exitStatus } from '../../../agent/checker/exit-status.ts';
import { aideArgs } from '../../../agent/checker/kinds/aide.ts';
import { MAX_CHECKER_OUTPUT_BYTES, OutputParts } from '../../../agent/checker/output-parts.ts';
import { parseTripwireConfig } from '../../../agent/checker/tripwire-config.ts';
import { parseTripwireReport } from '../../../agent/checker/tripwire-report.ts';
import { CHECKER_OUTPUT_PART_BYTES, type CheckerOutputBody, MAX_CHECKER_ENTRIES, CheckerOutputBody as OutputSchema } from '../../../shared/checker-messages.ts';
import { tempDir } from '../../helpers/temp.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

test('the AIDE text report gives each entry, the changed attributes and the summary counts', () => {
  const r = parseAideText(fixture('aide-report.txt'));
  assert.deepEqual(r, {
    added: 1,
    removed: 1,
    changed: 1,
    truncated: false,
    entries: [
      { path: '/tmp/chk-exp/tree/c', change: 'added', attrs: [] },
      { path: '/tmp/chk-exp/tree/b', change: 'removed', attrs: [] },
      { path: '/tmp/chk-exp/tree/a', change: 'changed', attrs: ['size', 'sha256'] },
    ],
  });
});

test('the AIDE JSON report keeps exact counts beyond the entry limit and says it is truncated', () => {
  const added: Record<string, string> = {};
  for (let i = 0; i < MAX_CHECKER_ENTRIES + 500; i++) added[`/d/${i}`] = 'f+++++++++++++++++';
  const r = parseAideJson(
    JSON.stringify({
      number_of_entries: { added: MAX_CHECKER_ENTRIES + 500, removed: 0, changed: 1 },
      added,
      changed: { '/x': 'f > ...' },
      details: { '/x': { size: {}, sha256: {} } },
    }),
  );
  assert.equal(r?.added, MAX_CHECKER_ENTRIES + 500);
  assert.equal(r.changed, 1);
  assert.equal(r.entries.length, MAX_CHECKER_ENTRIES);
  assert.equal(r.truncated, true);
  assert.equal(parseAideJson('not json'), null);
  assert.equal(parseAideJson('[1]'), null);
});

test('the Tripwire level-3 report gives added, removed and modified objects with the properties marked changed', () => {
  const r = parseTripwireReport(fixture('tripwire-report-l3.txt'));
  assert.deepEqual([r.added, r.removed, r.changed, r.truncated], [1, 1, 2, false]);
  assert.deepEqual(r.entries, [
    { path: '/tmp/chk-tw/tree/c', change: 'added', attrs: [] },
    { path: '/tmp/chk-tw/tree/b', change: 'removed', attrs: [] },
    { path: '/tmp/chk-tw/tree', change: 'changed', attrs: ['modify-time'] },
    { path: '/tmp/chk-tw/tree/a', change: 'changed', attrs: ['size', 'modify-time', 'crc32', 'md5'] },
  ]);
});

test('the Tripwire config printed by twadmin names the policy, the database (with $(HOSTNAME)) and the keys', () => {
  assert.deepEqual(parseTripwireConfig(fixture('tripwire-cfg.txt'), 'kilo'), {
    polfile: '/tmp/chk-tw/env/tw.pol',
    dbfile: '/tmp/chk-tw/env/kilo.twd',
    sitekey: '/tmp/chk-tw/env/site.key',
    localkey: '/tmp/chk-tw/env/local.key',
  });
  assert.deepEqual(parseTripwireConfig('POLFILE = relative.pol\n'), { polfile: null, dbfile: null, sitekey: null, localkey: null });
});

test('exit codes: the low three bits are findings, anything above and a signal are failures', () => {
  assert.equal(exitStatus(0), 'ok');
  for (const c of [1, 2, 4, 7]) assert.equal(exitStatus(c), 'findings');
  for (const c of [8, 14, 17, 19, 255, null]) assert.equal(exitStatus(c), 'failed');
});

test('aide arguments: JSON to fd 3 on 0.18, text at the entry level on 0.17, plain fd 3 before', () => {
  assert.deepEqual(aideArgs('/c', [0, 18]), ['--check', '--config=/c', '-A', 'report_level=changed_attributes', '-A', 'report_format=json', '-A', 'report_url=fd:3']);
  assert.deepEqual(aideArgs('/c', [0, 17]), ['--check', '--config=/c', '-A', 'report_level=changed_attributes', '-A', 'report_url=fd:3']);
  assert.deepEqual(aideArgs('/c', [0, 16]), ['--check', '--config=/c', '-A', 'report_url=fd:3']);
});

test('an AIDE config: @@define expanded, the first database wins, includes (file, dir+regex, x_include) listed', () => {
  const dir = tempDir();
  const d = join(dir, 'conf.d');
  mkdirSync(d);
  writeFileSync(join(d, '10-x'), '@@define DB2 /never\n/etc p\n');
  writeFileSync(join(d, 'skip.bak'), 'database_in=file:/ignored\n');
  writeFileSync(join(dir, 'inc.conf'), 'database=file:/too-late\n');
  const conf = join(dir, 'aide.conf');
  writeFileSync(
    conf,
    [
      '# comment',
      '@@define DBDIR /var/lib/aide',
      `@@include ${join(dir, 'inc-first.conf')}`,
      `@@include ${d} ^[0-9a-z-]+$`,
      'database_in = file:@@{DBDIR}/@@{HOSTNAME}.db',
      `@@include ${join(dir, 'inc.conf')}`,
      'database_out=file:///var/lib/aide/aide.db.new',
      `@@x_include ${join(dir, 'gen.sh')}`,
    ].join('\n'),
  );
  writeFileSync(join(dir, 'inc-first.conf'), '@@define HOSTNAME h1\n');
  const c = readAideConfig(conf, { hostName: 'ignored' });
  assert.equal(c.database, '/var/lib/aide/h1.db');
  assert.equal(c.databaseOut, '/var/lib/aide/aide.db.new');
  assert.deepEqual(c.includes, [join(dir, 'inc-first.conf'), join(d, '10-x'), join(dir, 'inc.conf'), join(dir, 'gen.sh')]);
  writeFileSync(conf, 'database_in=stdin\n');
  assert.deepEqual(readAideConfig(conf), { database: null, databaseUrl: 'stdin', databaseOut: null, includes: [] });
  assert.throws(() => readAideConfig(join(dir, 'absent.conf')));
});

test('output is cut into parts of at most 32 KiB without splitting a character, capped, the last part saying so', () => {
  const got: CheckerOutputBody[] = [];
  const runId = '00000000-0000-4000-8000-000000000001';
  const p = new OutputParts(runId, (b) => got.push(b));
  const line = `${'é'.repeat(999)}\n`; // 1,999 bytes: parts never end on a line boundary
  const n = Math.ceil((MAX_CHECKER_OUTPUT_BYTES * 1.5) / Buffer.byteLength(line));
  for (let i = 0; i < n; i++) p.write(line);
  p.end();
  assert.deepEqual(
    got.map((g) => g.part),
    got.map((_, i) => i),
  );
  for (const g of got) {
    assert.ok(Buffer.byteLength(g.text) <= CHECKER_OUTPUT_PART_BYTES);
    assert.ok(!g.text.includes('\ufffd'), 'no character split');
    assert.ok(OutputSchema.safeParse(g).success);
  }
  const all = got.map((g) => g.text).join('');
  assert.match(got.at(-1)!.text, /\[tripwarden: output cut at 1048576 bytes; \d+ more bytes not sent\]\n$/);
  assert.ok(Buffer.byteLength(all) <= MAX_CHECKER_OUTPUT_BYTES + 100);
  assert.ok(Buffer.byteLength(all) >= MAX_CHECKER_OUTPUT_BYTES - 4);
});
