import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckerRunner } from '../../../agent/checker/checker-runner.ts';
import { CHECKER_NICE } from '../../../agent/checker/run-process.ts';
import { hashFileSync } from '../../../agent/hashing/hash-file.ts';
import { Spool } from '../../../agent/spool/spool.ts';
import { type SpoolLink, SpoolSender } from '../../../agent/spool/spool-sender.ts';
import type { CheckerOutputBody, CheckerResultBody, RunChecker } from '../../../shared/checker-messages.ts';
import { systemClock } from '../../../shared/clock.ts';
import { createLogger } from '../../../shared/log.ts';
import { RecordBody, type SpoolRecord } from '../../../shared/protocol.ts';
import { recordHash } from '../../../shared/spool-chain.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

const log = createLogger('test', { level: 'silent' });
const AIDE = '/usr/bin/aide';
let runs = 0;
const runId = () => `00000000-0000-4000-8000-${String(++runs).padStart(12, '0')}`;

/** A small tree with its own AIDE config and a database initialised from it. */
function layout(extra = ''): { dir: string; tree: string; conf: string; db: string } {
  const dir = tempDir('tw-aide-');
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a'), 'a\n');
  writeFileSync(join(tree, 'b'), 'b\n');
  const conf = join(dir, 'aide.conf');
  writeFileSync(
    conf,
    [
      `@@define DBDIR ${dir}`,
      'database_in=file:@@{DBDIR}/aide.db',
      'database_out=file:@@{DBDIR}/aide.db.new',
      'gzip_dbout=no',
      // The tree's own directory without its times and size: AIDE keeps them in whole seconds, so whether adding and
      // removing entries changed the directory depended on a second passing between the init and the change.
      `=${tree}$ p+i+n+u+g`,
      `${tree} p+i+n+u+g+s+m+c+sha256`,
      '',
    ].join('\n'),
  );
  execFileSync(AIDE, ['--init', `--config=${conf}`], { stdio: 'ignore' });
  renameSync(join(dir, 'aide.db.new'), join(dir, 'aide.db'));
  if (extra) appendFileSync(conf, `${extra}\n`);
  return { dir, tree, conf, db: join(dir, 'aide.db') };
}

/** A real spool and its sender over a link that is down (the server away), or up when `connect` is called. */
function spooled() {
  const dir = tempDir();
  const spool = new Spool({ dir, log });
  const listeners: Record<string, ((a: unknown) => void)[]> = {};
  const sent: SpoolRecord[] = [];
  let connected = false;
  let seq = 0;
  const link: SpoolLink = {
    bootId: '11111111-2222-4333-8444-555555555555',
    get isConnected() {
      return connected;
    },
    takeSeq: () => seq++,
    sendMessage: (m) => {
      sent.push(m.record as SpoolRecord);
      return true;
    },
    on: (ev, fn) => {
      (listeners[ev] ??= []).push(fn as (a: unknown) => void);
    },
  };
  const sender = new SpoolSender(spool, link, { clock: systemClock, log });
  const records = () => spool.read(0, 1e9).filter((r): r is SpoolRecord => !('gap' in r));
  const connect = () => {
    connected = true;
    for (const fn of listeners.welcome ?? []) fn({});
  };
  const ack = (r: SpoolRecord) => {
    for (const fn of listeners['spool-ack'] ?? []) fn({ n: r.n, hash: r.hash });
  };
  /** Every record's hash verifies and links to the one before. */
  const chainValid = () => {
    let prev = spool.base;
    for (const r of spool.read(0, 1e9)) {
      assert.equal(r.prev, prev.hash, `record ${r.n} links`);
      if (!('gap' in r)) assert.equal(recordHash(r), r.hash);
      prev = { n: r.n, hash: r.hash };
    }
    assert.deepEqual(prev, spool.head);
  };
  return { spool, sender, records, sent, connect, ack, chainValid };
}

/** The server's side of a run: the hashes its baseline holds for the files the agent declared. */
function expectFor(runner: CheckerRunner, kind: 'aide' | 'tripwire' = 'aide') {
  const decl = runner.declarations().find((d) => d.kind === kind)!;
  return decl.files.map((path) => ({ path, sha256: hashFileSync(path).sha256 }));
}

function request(runner: CheckerRunner, over: Partial<RunChecker> = {}): RunChecker {
  return { type: 'run-checker', runId: runId(), checker: 'aide', expect: over.expect ?? expectFor(runner), timeoutMs: 120_000, ...over };
}

/**
 * A config that blocks aide: it runs an `@@x_include` script (hashed with the config, so the run is allowed)
 * that sleeps; returns the config and the sleep's unique argument.
 */
function blockingLayout() {
  const dir = tempDir('tw-aide-');
  const secs = String(3000 + Math.floor(Math.random() * 100_000));
  const script = join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh\nexec sleep ${secs}\n`);
  chmodSync(script, 0o755);
  return { ...layout(`@@x_include ${script}`), script, secs };
}

const results = (recs: SpoolRecord[]) => recs.map((r) => r.body).filter((b): b is CheckerResultBody => b.kind === 'checker-result');
const outputs = (recs: SpoolRecord[]) => recs.map((r) => r.body).filter((b): b is CheckerOutputBody => b.kind === 'checker-output');

test('declared files: the aide binary and its libraries, ionice, the config and the database its @@define names', () => {
  const t = layout();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: () => {}, clock: systemClock, log });
  const [decl] = runner.declarations();
  assert.equal(decl?.kind, 'aide');
  for (const f of [AIDE, t.conf, t.db]) assert.ok(decl.files.includes(f), `${f} declared`);
  assert.ok(
    decl.files.some((f) => /\/libc\.so/.test(f)),
    'libc declared',
  );
  assert.ok(
    decl.files.some((f) => f.endsWith('/ionice')),
    'ionice declared',
  );
  assert.deepEqual(runner.files(), decl.files);
});

test('a clean run is ok: output and result are spooled in order on a valid chain, with the database hash', async () => {
  const t = layout();
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: (b) => s.sender.submit(b), clock: systemClock, log });
  const req = request(runner);
  const r = await runner.handle(req);
  assert.equal(r?.status, 'ok', r?.reason);
  assert.equal(r.exitCode, 0);
  assert.deepEqual([r.added, r.removed, r.changed, r.entries.length], [0, 0, 0, 0]);
  assert.equal(r.dbSha256, hashFileSync(t.db).sha256);
  const recs = s.records();
  const out = outputs(recs);
  assert.ok(out.length >= 1, 'the report is spooled as output');
  assert.match(out.map((o) => o.text).join(''), /"outline": "AIDE found NO differences/);
  assert.deepEqual(
    out.map((o) => o.part),
    out.map((_, i) => i),
  );
  assert.equal(recs.at(-1)?.body.kind, 'checker-result', 'the result comes last');
  assert.equal(recs.at(-1)?.severity, 'critical', 'a result is never summarised away');
  assert.ok(
    recs.slice(0, -1).every((x) => x.severity === 'low'),
    'raw output may be, when the spool is full',
  );
  for (const rec of recs) assert.ok(RecordBody.safeParse(rec.body).success, 'each body is valid on the wire');
  s.chainValid();
});

test('a changed tree is findings: added, removed and changed paths with the attributes that changed', async () => {
  const t = layout();
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: (b) => s.sender.submit(b), clock: systemClock, log });
  const req = request(runner);
  appendFileSync(join(t.tree, 'a'), 'more\n');
  writeFileSync(join(t.tree, 'c'), 'new\n');
  rmSync(join(t.tree, 'b'));
  const r = await runner.handle(req);
  assert.equal(r?.status, 'findings', r?.reason);
  assert.equal(r.exitCode, 7);
  assert.deepEqual([r.added, r.removed, r.changed], [1, 1, 1]);
  const by = new Map(r.entries.map((e) => [e.path, e]));
  assert.equal(by.get(join(t.tree, 'c'))?.change, 'added');
  assert.equal(by.get(join(t.tree, 'b'))?.change, 'removed');
  const a = by.get(join(t.tree, 'a'));
  assert.equal(a?.change, 'changed');
  assert.ok(a.attrs.includes('sha256') && a.attrs.includes('size'), `attrs ${a.attrs}`);
  assert.equal(r.truncated, false);
  assert.deepEqual(results(s.records()), [r]);
  s.chainValid();
});

test('a config edited after the server took its hashes is refused, naming it, and aide never runs', async () => {
  const t = layout();
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: (b) => s.sender.submit(b), clock: systemClock, log });
  const req = request(runner);
  const before = hashFileSync(t.conf).sha256;
  const marker = join(t.dir, 'ran');
  appendFileSync(t.conf, `report_url=file:${marker}\n`);
  const r = await runner.handle(req);
  assert.equal(r?.status, 'refused');
  assert.deepEqual(r.refused, [{ path: t.conf, expected: before, actual: hashFileSync(t.conf).sha256 }]);
  assert.equal(r.exitCode, null);
  assert.equal(existsSync(marker), false, 'aide did not run');
  assert.equal(outputs(s.records()).length, 0);
  assert.deepEqual(results(s.records()), [r]);
  s.chainValid();
});

test('a file the server sent no hash for is refused (expected null); so is one that cannot be read', async () => {
  const t = layout();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: () => {}, clock: systemClock, log });
  const all = expectFor(runner);
  const r = await runner.handle(request(runner, { expect: all.filter((e) => e.path !== t.db) }));
  assert.equal(r?.status, 'refused');
  assert.deepEqual(r.refused, [{ path: t.db, expected: null, actual: hashFileSync(t.db).sha256 }]);
  assert.match(r.reason ?? '', /differ from the server's hashes/);
  // The database replaced by a FIFO: hashing it would block; it is refused as unreadable instead.
  rmSync(t.db);
  execFileSync('mkfifo', [t.db]);
  const r2 = await runner.handle(request(runner, { expect: all }));
  assert.equal(r2?.status, 'refused');
  assert.deepEqual(r2.refused, [{ path: t.db, expected: all.find((e) => e.path === t.db)!.sha256, actual: null }]);
});

/** The pids whose command line names `needle`. */
function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

function exeOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

test('a run past its deadline is killed with its process group and fails; it ran niced in the idle I/O class', async () => {
  const t = blockingLayout();
  const clock = new FakeClock();
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: (b) => s.sender.submit(b), clock, log });
  const req = request(runner, { timeoutMs: 60_000 });
  const p = runner.handle(req);
  // The pid once ionice has set the class and exec'd aide.
  const [pid] = await waitFor(
    () => {
      const pids = pidsWith(`--config=${t.conf}`).filter((x) => exeOf(x) === AIDE);
      return pids.length ? pids : null;
    },
    { what: 'aide blocked on its include' },
  );
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  assert.equal(nice, CHECKER_NICE);
  assert.match(execFileSync('/usr/bin/ionice', ['-p', String(pid)], { encoding: 'utf8' }), /idle/);
  let done: CheckerResultBody | null | undefined;
  void p.then((r) => (done = r));
  clock.advance(59_000);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(done, undefined, 'still running before the deadline');
  assert.ok(existsSync(`/proc/${pid}`));
  clock.advance(1_000);
  const r = await p;
  assert.equal(r?.status, 'failed');
  assert.match(r.reason ?? '', /timed out/);
  assert.equal(r.exitCode, null);
  assert.ok(runner.declarations()[0]?.files.includes(t.script), 'the x_include script is declared');
  assert.deepEqual(pidsWith(`--config=${t.conf}`), [], 'aide is gone');
  await waitFor(() => pidsWith(`sleep\0${t.secs}`).length === 0, { what: 'the script (same process group) gone too' });
  assert.deepEqual(results(s.records()), [r]);
  s.chainValid();
});

test('a kind the config does not name fails as "not configured" and nothing is spawned', async () => {
  const bin = tempDir();
  const marker = join(bin, 'spawned');
  writeFileSync(join(bin, 'aide'), `#!/bin/sh\ntouch ${marker}\n`);
  chmodSync(join(bin, 'aide'), 0o755);
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [], submit: (b) => s.sender.submit(b), clock: systemClock, log, binDirs: [bin] });
  assert.deepEqual(runner.declarations(), []);
  const req: RunChecker = { type: 'run-checker', runId: runId(), checker: 'aide', expect: [], timeoutMs: 60_000 };
  const r = await runner.handle(req);
  assert.equal(r?.status, 'failed');
  assert.equal(r.reason, 'not configured');
  assert.equal(existsSync(marker), false);
  assert.deepEqual(
    s.records().map((x) => x.body),
    [r],
  );
});

test('a missing binary fails with the directories searched; it never throws', async () => {
  const t = layout();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: () => {}, clock: systemClock, log, binDirs: [tempDir()] });
  const r = await runner.handle({ type: 'run-checker', runId: runId(), checker: 'aide', expect: [], timeoutMs: 60_000 });
  assert.equal(r?.status, 'failed');
  assert.match(r.reason ?? '', /aide not found in \//);
});

test('a result made while the server is away is delivered once when it returns; the same run id again is ignored', async () => {
  const t = layout();
  const s = spooled();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: (b) => s.sender.submit(b), clock: systemClock, log });
  const req = request(runner);
  const r = await runner.handle(req);
  assert.equal(r?.status, 'ok');
  assert.equal(s.sent.length, 0, 'nothing sent while the server is away');
  assert.equal(await runner.handle(req), null, 'asked again after a reconnect: not run twice');
  s.connect();
  const n = s.records().length;
  assert.equal(s.sent.length, n);
  for (const rec of [...s.sent]) s.ack(rec);
  s.connect();
  assert.equal(s.sent.length, n, 'acked records are not sent again');
  assert.equal(results(s.sent).length, 1);
  assert.equal(results(s.sent)[0]?.runId, req.runId);
});

test('a second run of the same kind while one runs fails as "already running"', async () => {
  const t = blockingLayout();
  const clock = new FakeClock();
  const runner = new CheckerRunner({ checkers: [{ kind: 'aide', config: t.conf }], submit: () => {}, clock, log });
  const first = runner.handle(request(runner));
  const second = await runner.handle(request(runner));
  assert.equal(second?.status, 'failed');
  assert.equal(second.reason, 'already running');
  await waitFor(() => pidsWith(`--config=${t.conf}`).length > 0, { what: 'the first run started' });
  clock.advance(120_000);
  assert.equal((await first)?.status, 'failed');
});
