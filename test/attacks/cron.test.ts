/**
 * Attack catalogue (docs/ATTACKS.md), cron: kill it; replace its binary and restart it.
 * A real Debian cron runs from a copy in a sandbox (`<root>/usr/sbin/crond`),
 * in a private mount namespace with its own /run so its pid-file lock cannot
 * clash with a cron of the host or of another test; it is named `crond` (as on
 * Red Hat) so that another `cron` process on this machine does not count as it.
 * Two agents watch it: one with the sandbox's /usr/sbin guarded (as the
 * built-in watch set guards /usr/sbin/cron), one with the daemon check alone.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';
import { makeSandbox, type Sandbox } from './sandbox.ts';

const GUARDED = 'atk-cron';
const BARE = 'atk-cron-bare';
const NAME = 'crond';
const skip =
  process.getuid?.() !== 0
    ? "needs root (a private mount namespace for cron's /run)"
    : !existsSync('/usr/sbin/cron')
      ? '/usr/sbin/cron is not installed'
      : spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status !== 0
        ? 'unshare -m is not permitted here'
        : '';

let server: TestServer;
let box: Sandbox;
let exe: string;
let cron: ChildProcess | null = null;
const procs: Proc[] = [];

/** Starts the sandbox's cron in the foreground, with a private /run. */
function startCron(): ChildProcess {
  const run = join(box.scratch, `run-${Date.now()}`);
  mkdirSync(run);
  const c = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$1" /run && exec "$2" -f`, 'sh', run, exe], { stdio: 'ignore' });
  c.on('error', () => undefined);
  return c;
}
async function stopCron(): Promise<void> {
  const c = cron;
  cron = null;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL'); // the cron this test started, by its pid
  await gone;
}
const daemonAlarm = async (host: string, kind: string) => (await openAlarms(server, host)).find((a) => a.kind === kind && a.subject === NAME);

async function allAlarms(host: string) {
  const c = server.ctx();
  try {
    return await c.alarms.list({ host });
  } finally {
    await c.close();
  }
}

before(async () => {
  if (skip) return;
  box = makeSandbox(GUARDED);
  exe = join(box.root, 'usr/sbin', NAME);
  copyFileSync('/usr/sbin/cron', exe);
  chmodSync(exe, 0o755);
  cron = startCron();
  server = await startServer(initServer({ grace: '1s' }));
  const daemons = `daemons:\n  - { name: ${NAME}, exe: ${exe} }\n`;
  for (const [host, extra] of [
    [GUARDED, `fullScanEvery: 1h\n${box.watchYaml}${daemons}`],
    [BARE, `fullScanEvery: 1h\n${daemons}`],
  ] as const) {
    const p = runAgent(enrollAgent(server, host, { extra }));
    procs.push(p);
  }
  for (const host of [GUARDED, BARE]) {
    await waitFor(
      () => {
        const c = server.ctx();
        try {
          const r = c.db!.prepare("SELECT current FROM measured WHERE host = ? AND kind = 'daemon' AND key = ?").get(host, NAME) as { current: string } | undefined;
          return r && (JSON.parse(r.current) as { status: string }).status === 'up';
        } finally {
          void c.close();
        }
      },
      { timeoutMs: 30_000, what: `${host} reports ${NAME} up` },
    );
  }
});

after(async () => {
  if (skip) return;
  report(import.meta.filename);
  for (const p of procs) p.signal('SIGKILL');
  await server?.stop();
  await stopCron();
});

test('kill cron: daemon-down on cron within one interval', { skip: skip || false }, async () => {
  const t0 = Date.now();
  await stopCron();
  for (const host of [GUARDED, BARE]) {
    const a = await waitFor(() => daemonAlarm(host, 'daemon-down'), { timeoutMs: 10_000, what: `daemon-down on ${host}` });
    assert.equal(a.host, host);
    assert.equal(a.severity, 'critical');
    record(import.meta.filename, {
      attack: `kill cron${host === BARE ? ' (daemon check only)' : ''}`,
      kind: 'daemon-down',
      subject: NAME,
      budget: 'one interval (1 s)',
      budgetMs: 1100,
      ms: since(t0, a),
    });
  }
  cron = startCron();
  for (const host of [GUARDED, BARE]) await waitFor(async () => !(await daemonAlarm(host, 'daemon-down')), { timeoutMs: 10_000, what: `daemon-down resolved on ${host}` });
});

let replacedAt = 0;
test("replace cron's binary and restart it: file-changed (critical) on cron's binary", { skip: skip || false }, async () => {
  // Another binary: a patched cron (it still runs as a cron), renamed over the configured one, then a restart.
  const trojan = join(box.scratch, 'crond.new');
  copyFileSync('/usr/sbin/cron', trojan);
  appendFileSync(trojan, Buffer.from('trojan'));
  chmodSync(trojan, 0o755);
  replacedAt = Date.now();
  renameSync(trojan, exe);
  await stopCron();
  cron = startCron();
  const a = await waitFor(async () => (await openAlarms(server, GUARDED)).find((x) => x.kind === 'file-changed' && x.subject === exe), {
    timeoutMs: 10_000,
    what: `file-changed on ${exe}`,
  });
  assert.equal(a.host, GUARDED);
  assert.equal(a.severity, 'critical');
  record(import.meta.filename, {
    attack: "replace cron's binary and restart it",
    kind: 'file-changed',
    subject: exe,
    budget: 'one interval (1 s)',
    budgetMs: 1100,
    ms: since(replacedAt, a),
  });
});

test("replace cron's binary and restart it, binary not in the watch list: daemon-exe-mismatch from the daemon check alone", { skip: skip || false }, async () => {
  assert.ok(replacedAt && cron?.pid, 'runs after the replace above');
  const pid = cron!.pid!;
  // The daemon check sees the restarted cron up: the running image and the file on disk agree (both the trojan).
  const measured = () => {
    const c = server.ctx();
    try {
      const r = c.db!.prepare("SELECT baseline, current FROM measured WHERE host = ? AND kind = 'daemon' AND key = ?").get(BARE, NAME) as
        | { baseline: string | null; current: string }
        | undefined;
      return r
        ? { baseline: r.baseline ? (JSON.parse(r.baseline) as { sha256?: string }) : null, current: JSON.parse(r.current) as { status: string; pids: number[]; sha256?: string } }
        : undefined;
    } finally {
      void c.close();
    }
  };
  const m = await waitFor(
    () => {
      const x = measured();
      return x?.current.status === 'up' && x.current.pids.includes(pid) ? x : undefined;
    },
    { timeoutMs: 10_000, what: `${BARE} reports the restarted ${NAME} up` },
  );
  assert.ok(m.baseline?.sha256 && m.current.sha256 && m.baseline.sha256 !== m.current.sha256, "the baseline keeps the first binary's hash");
  // ...and the baseline's hash says it is another binary.
  const a = await waitFor(() => daemonAlarm(BARE, 'daemon-exe-mismatch'), { timeoutMs: 10_000, what: `daemon-exe-mismatch on ${BARE}` });
  assert.equal(a.host, BARE);
  assert.equal(a.severity, 'critical');
  const first = (await allAlarms(BARE))
    .filter((x) => x.kind === 'daemon-exe-mismatch' && x.subject === NAME && Date.parse(x.openedAt) >= replacedAt - 5)
    .sort((x, y) => x.openedAt.localeCompare(y.openedAt))[0]!;
  record(import.meta.filename, {
    attack: "replace cron's binary and restart it (daemon check only)",
    kind: 'daemon-exe-mismatch',
    subject: NAME,
    budget: 'one interval (1 s)',
    budgetMs: 1100,
    ms: since(replacedAt, first),
  });
});
