/**
 * A real Tripwire run. Tripwire is not installed on the test machines (and
 * must not be, system-wide): point TRIPWARDEN_TEST_TRIPWIRE_SBIN at the
 * `usr/sbin` of an unpacked package (`apt-get download tripwire && dpkg-deb
 * -x tripwire_*.deb root`) to run it; without it the test is skipped and the
 * parsers are covered by the recorded reports in checker-reports.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckerRunner } from '../../../agent/checker/checker-runner.ts';
import { hashFileSync } from '../../../agent/hashing/hash-file.ts';
import type { CheckerResultBody, RunChecker } from '../../../shared/checker-messages.ts';
import { systemClock } from '../../../shared/clock.ts';
import { createLogger } from '../../../shared/log.ts';
import { tempDir } from '../../helpers/temp.ts';

const SBIN = process.env.TRIPWARDEN_TEST_TRIPWIRE_SBIN;
const log = createLogger('test', { level: 'silent' });

test('tripwire: the files its config names are declared after a first run; a clean run is ok, a changed tree findings', {
  skip: SBIN && existsSync(join(SBIN, 'tripwire')) ? false : 'TRIPWARDEN_TEST_TRIPWIRE_SBIN not set',
}, async () => {
  const sbin = SBIN!;
  const dir = tempDir('tw-tripwire-');
  const env = join(dir, 'etc');
  const tree = join(dir, 'tree');
  mkdirSync(env);
  mkdirSync(tree);
  writeFileSync(join(tree, 'a'), 'a\n');
  writeFileSync(join(tree, 'b'), 'b\n');
  const cfgTxt = join(dir, 'twcfg.txt');
  writeFileSync(
    cfgTxt,
    [
      `ROOT=${sbin}`,
      `POLFILE=${env}/tw.pol`,
      `DBFILE=${dir}/$(HOSTNAME).twd`,
      `REPORTFILE=${dir}/r.twr`,
      `SITEKEYFILE=${env}/site.key`,
      `LOCALKEYFILE=${env}/local.key`,
      'EDITOR=/bin/vi',
      'LATEPROMPTING=false',
      'LOOSEDIRECTORYCHECKING=false',
      'REPORTLEVEL=3',
      'SYSLOGREPORTING=false',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'pol.txt'), `(rulename = "Test tree", severity = 100)\n{\n  ${tree} -> $(ReadOnly) ;\n}\n`);
  const tw = (bin: string, args: string[]) => execFileSync(join(sbin, bin), args, { stdio: 'ignore' });
  tw('twadmin', ['--generate-keys', '--site-keyfile', `${env}/site.key`, '--site-passphrase', 'sp', '--local-keyfile', `${env}/local.key`, '--local-passphrase', 'lp']);
  tw('twadmin', ['--create-cfgfile', '--cfgfile', `${env}/tw.cfg`, '--site-keyfile', `${env}/site.key`, '--site-passphrase', 'sp', cfgTxt]);
  tw('twadmin', ['--create-polfile', '--cfgfile', `${env}/tw.cfg`, '--site-keyfile', `${env}/site.key`, '--site-passphrase', 'sp', join(dir, 'pol.txt')]);
  tw('tripwire', ['--init', '--cfgfile', `${env}/tw.cfg`, '--local-passphrase', 'lp']);
  const db = join(dir, `${hostname()}.twd`);
  assert.ok(existsSync(db));
  const results: CheckerResultBody[] = [];
  const runner = new CheckerRunner({
    checkers: [{ kind: 'tripwire', config: `${env}/tw.cfg` }],
    submit: (b) => void (b.kind === 'checker-result' && results.push(b)),
    clock: systemClock,
    log,
    binDirs: [sbin],
  });
  let n = 0;
  const request = (): RunChecker => {
    const files = runner.declarations()[0]!.files;
    return {
      type: 'run-checker',
      runId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
      checker: 'tripwire',
      expect: files.map((path) => ({ path, sha256: hashFileSync(path).sha256 })),
      timeoutMs: 120_000,
    };
  };
  // Before a run the agent knows only the Debian layout next to tw.cfg: the database and local key elsewhere are unknown.
  const first = await runner.handle(request());
  assert.equal(first?.status, 'refused');
  assert.deepEqual(
    first.refused?.map((f) => [f.path, f.expected]).sort(),
    [
      [db, null],
      [`${env}/local.key`, null],
    ].sort(),
  );
  assert.ok(runner.declarations()[0]!.files.includes(db), 'the next hello declares the database the config names');
  const clean = await runner.handle(request());
  assert.equal(clean?.status, 'ok', clean?.reason);
  assert.equal(clean.exitCode, 0);
  assert.equal(clean.dbSha256, hashFileSync(db).sha256);
  appendFileSync(join(tree, 'a'), 'more\n');
  rmSync(join(tree, 'b'));
  writeFileSync(join(tree, 'c'), 'c\n');
  const dirty = await runner.handle(request());
  assert.equal(dirty?.status, 'findings', dirty?.reason);
  assert.equal(dirty.exitCode, 7);
  assert.deepEqual([dirty.added, dirty.removed], [1, 1]);
  const a = dirty.entries.find((e) => e.path === join(tree, 'a'));
  assert.equal(a?.change, 'changed');
  assert.ok(a.attrs.includes('size'), `attrs ${a.attrs}`);
  assert.equal(results.length, 3);
});
