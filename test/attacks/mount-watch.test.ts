/**
 * Attack catalogue: mount tricks that leave no trace on disk and are undone
 * before a poll comes round. The agent runs as root in a private mount
 * namespace of its own (`unshare --mount --propagation private`), and the
 * intruder acts inside it with nsenter, so the machine's mount table is never
 * touched: a bind mount over a guarded binary undone within a second, a
 * read-only mount made writable and read-only again at once, and the mount
 * watcher (findmnt) killed.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentCommand, enrollAgent, initServer, Proc, ROOT, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { findmntPolling } from '../helpers/findmnt-ready.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';
import { someBinary } from './sandbox.ts';

const HOST = 'atk-mount-watch';
const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'findmnt', '--version'], { encoding: 'utf8' });
const skip = probe.status === 0 ? '' : `no private mount namespace with findmnt here (${(probe.stderr || probe.error?.message || 'unshare failed').trim()})`;

let server: TestServer;
let agent: Proc;
let guarded = '';
let evil = '';
let ro = '';

/** Runs a shell script inside the agent's mount namespace, as the intruder would. */
function intruder(script: string, ...args: string[]): void {
  execFileSync('nsenter', ['-t', String(agent.pid), '-m', 'sh', '-c', script, 'sh', ...args]);
}

/** Every alarm of the host (open or already resolved: a trick undone at once resolves its alarm at once). */
async function alarms() {
  const c = server.ctx();
  try {
    return await c.alarms.list({ host: HOST });
  } finally {
    await c.close();
  }
}

/** The agent's findmnt on its own table (another may follow init's table, with `--task 1`). */
function findmntPids(): number[] {
  return allFindmnt().filter((p) => {
    try {
      return !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--task');
    } catch {
      return false;
    }
  });
}

/** The agent's children named findmnt. */
function allFindmnt(): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${agent.pid}/task`)) {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${agent.pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const k of kids.trim().split(' ').filter(Boolean).map(Number)) {
      try {
        if (readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'findmnt') out.push(k);
      } catch {
        /* exited */
      }
    }
  }
  return out;
}

/** The server's log line for an agent watch note matching `re`. */
/** Waits until nothing is open on `subject` (a covering mount undone is settled by the next full report). */
function settled(subject: string) {
  return waitFor(async () => !(await alarms()).some((x) => x.subject === subject && !x.resolvedAt), { timeoutMs: 15_000, what: `alarms on ${subject} resolved` });
}

function serverNote(re: RegExp, timeoutMs = 10_000) {
  return server.proc.waitLog((o) => o.msg === 'agent watch note' && re.test(String(o.note)), timeoutMs);
}

before(async () => {
  if (skip) return;
  const root = tempDir('tw-attack-mntw-');
  const dir = join(root, 'usr/sbin');
  mkdirSync(dir, { recursive: true });
  guarded = join(dir, 'cron');
  copyFileSync(someBinary('/usr/sbin/cron', '/usr/bin/true'), guarded);
  evil = join(root, 'evil');
  writeFileSync(evil, '#!/bin/sh\necho pwned\n');
  ro = join(root, 'boot');
  mkdirSync(ro);
  server = await startServer(initServer({ grace: '1s' }));
  const a = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${dir}, recursive: true, critical: true }\nmounts:\n  - { path: ${ro}, expect: ro }\n` });
  const cmd = agentCommand();
  // The read-only mount exists only in the agent's namespace; then the shell becomes the agent (same pid).
  agent = new Proc(
    spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount -t tmpfs -o ro,size=1m tw "$1" && shift && exec "$@"',
        'sh',
        ro,
        cmd.cmd,
        ...cmd.args,
        'run',
        '--config',
        a.config,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  await waitForBaseline(server, HOST);
  const [findmnt] = await waitFor(() => (findmntPids().length === 1 ? findmntPids() : undefined), { what: "the agent's findmnt running" });
  await findmntPolling(findmnt!);
});

after(async () => {
  if (!skip) report(import.meta.filename);
  agent?.signal('SIGTERM');
  await agent?.exited;
  await server?.stop();
});

test('a file bind-mounted over a guarded binary and unmounted within a second is reported, naming the path', async (t) => {
  if (skip) return t.skip(skip);
  const t0 = Date.now();
  intruder('mount --bind "$1" "$2" && sleep 0.2 && umount "$2"', evil, guarded);
  const a = await waitFor(async () => (await alarms()).find((x) => x.subject === guarded), { what: `an alarm on ${guarded}` });
  assert.equal(a.severity, 'critical');
  await serverNote(new RegExp(`^mount rw: ${guarded}$`));
  await serverNote(new RegExp(`^umount: ${guarded}$`));
  record(import.meta.filename, { attack: 'bind mount over a guarded binary, undone in 0.2 s', kind: a.kind, subject: guarded, budget: '1 s', budgetMs: 1000, ms: since(t0, a) });
});

test('a bind mount over a guarded binary undone at once (same shell line) still opens an alarm on the path', async (t) => {
  if (skip) return t.skip(skip);
  await settled(guarded);
  const t0 = Date.now();
  intruder('mount --bind "$1" "$2" && umount "$2"', evil, guarded);
  const a = await waitFor(async () => (await alarms()).find((x) => x.subject === guarded && Date.parse(x.openedAt) >= t0 - 50), { what: `a new alarm on ${guarded}` });
  assert.equal(a.severity, 'critical');
  record(import.meta.filename, { attack: 'bind mount over a guarded binary, undone at once', kind: a.kind, subject: guarded, budget: '1 s', budgetMs: 1000, ms: since(t0, a) });
});

test('a read-only mount made writable and read-only again within 50 ms is mount-writable on its path', async (t) => {
  if (skip) return t.skip(skip);
  const t0 = Date.now();
  intruder('mount -o remount,rw "$1" && mount -o remount,ro "$1"', ro);
  const a = await waitFor(async () => (await alarms()).find((x) => x.kind === 'mount-writable' && x.subject === ro), { what: `mount-writable on ${ro}` });
  assert.equal((a.detail as { state: string }).state, 'rw');
  await serverNote(new RegExp(`^remount ro -> rw: ${ro}$`));
  await serverNote(new RegExp(`^remount rw -> ro: ${ro}$`));
  record(import.meta.filename, { attack: 'ro -> rw -> ro within 50 ms', kind: a.kind, subject: ro, budget: '1 s', budgetMs: 1000, ms: since(t0, a) });
});

test('findmnt killed: a watch note on the server, a new findmnt, and mounts still seen', async (t) => {
  if (skip) return t.skip(skip);
  const [first] = findmntPids();
  process.kill(first!, 'SIGKILL');
  await serverNote(/findmnt --poll\) exited \(SIGKILL\)/);
  const second = await waitFor(() => findmntPids().find((p) => p !== first), { what: 'findmnt restarted' });
  assert.notEqual(second, first);
  await findmntPolling(second);
  await settled(guarded);
  const t0 = Date.now();
  intruder('mount --bind "$1" "$2"', evil, guarded);
  const a = await waitFor(async () => (await alarms()).find((x) => x.subject === guarded && Date.parse(x.openedAt) >= t0 - 50), { what: `a new alarm on ${guarded}` });
  record(import.meta.filename, {
    attack: 'findmnt killed, then a bind mount over a guarded binary',
    kind: a.kind,
    subject: guarded,
    budget: '1 s',
    budgetMs: 1000,
    ms: since(t0, a),
  });
  intruder('umount "$1"', guarded);
});
