/**
 * `accept HOST` with a real `serve` and `agent run`: it accepts a report the agent sent for it, never
 * the server's last stored state, which can miss a change still on its way; an offline host is
 * refused unless `--stale` says to accept the last report knowingly.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliResult, enrollAgent, initServer, type Proc, ROOT, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'fresh1';
let server: TestServer;
let agent: Proc;
let F: string;

before(async () => {
  const root = tempDir('tw-accept-fresh-');
  mkdirSync(join(root, 'etc'));
  F = join(root, 'etc', 'app.conf');
  writeFileSync(F, 'v1\n');
  server = await startServer(initServer());
  const a = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${join(root, 'etc')}, recursive: true }\n` });
  agent = runAgent(a);
  await agent.waitLog((o) => o.msg === 'report sent', 30_000);
  await waitFor(() => row('current'), { what: 'the file reported' });
});

after(async () => {
  agent?.signal('SIGCONT');
  server?.proc.signal('SIGCONT');
  await server?.stop();
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function row(col: 'baseline' | 'current'): { sha256?: string } | undefined {
  const c = server.ctx();
  try {
    const r = c.db!.prepare(`SELECT ${col} AS v FROM measured WHERE host = ? AND kind = 'file' AND key = ?`).get(HOST, F) as { v: string | null } | undefined;
    return r?.v ? JSON.parse(r.v) : undefined;
  } finally {
    void c.close();
  }
}

function pendingRequests(): number {
  const c = server.ctx();
  try {
    return (c.db!.prepare("SELECT COUNT(*) AS n FROM commands WHERE action = 'request-report' AND done_at IS NULL").get() as { n: number }).n;
  } finally {
    void c.close();
  }
}

/** Runs a server CLI command without blocking this process (the test must act while it runs). */
function serverCliAsync(args: string[]): { done: Promise<CliResult>; exited: () => boolean } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  let over = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code) => {
      over = true;
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return { done, exited: () => over };
}

test('accept takes the newest content, even when its change had not reached the stored state', async () => {
  writeFileSync(F, 'v2\n');
  await waitFor(() => row('current')?.sha256 === sha('v2\n'), { what: 'v2 stored' });
  // The server is held while the second change happens: its event waits unread, so the stored state
  // is stale (v2) for as long as we choose, deterministically.
  server.proc.signal('SIGSTOP');
  try {
    writeFileSync(F, 'v3\n');
    const run = serverCliAsync(['accept', HOST, F, '--dir', server.dir]);
    // Today's accept would finish against the stale state here; the fresh one queues its request and waits.
    await waitFor(() => run.exited() || pendingRequests() > 0, { timeoutMs: 30_000, what: 'accept ran or asked for a report' });
    server.proc.signal('SIGCONT');
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(row('baseline')?.sha256, sha('v3\n'), 'the baseline is the newest content, not the stale stored one');
    assert.match(r.stdout, /accepting the fresh report of fresh1, stored \d{4}-\d\d-\d\dT/);
    assert.match(r.stdout, /accepted 1 path\(s\) of fresh1/);
  } finally {
    server.proc.signal('SIGCONT');
  }
});

test('an offline host is refused, naming --stale; --stale accepts the last stored report', async () => {
  agent.signal('SIGTERM');
  await agent.exited;
  writeFileSync(F, 'v4\n'); // never seen: the agent is down
  let r = serverCli(['accept', HOST, F, '--dir', server.dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /TW_HOST_OFFLINE: fresh1: not connected to the running serve.*--stale/);
  r = serverCli(['accept', HOST, F, '--stale', '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /accepting the last report of fresh1, stored \d{4}-\d\d-\d\dT.*\(--stale\)/);
  assert.equal(row('baseline')?.sha256, sha('v3\n'), 'the last stored state, as --stale says');
  // No serve at all: the request is never taken.
  await server.stop();
  r = serverCli(['accept', HOST, F, '--dir', server.dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /TW_HOST_OFFLINE: fresh1: no running serve took the request.*--stale/);
});
