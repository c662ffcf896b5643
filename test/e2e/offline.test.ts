/**
 * The server unreachable: each finding is written at once to every fallback
 * sink — an append-only file and a pseudo-terminal standing in for a serial
 * console — within 1 s; a sink that fails is reported once, and reaches the
 * server as a note when the link returns.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { serveOn } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

/** Opens a pty, prints the slave's path, copies what arrives on the master to a file. */
const PTY = `
import os, sys, select
m, s = os.openpty()
print(os.ttyname(s), flush=True)
out = open(sys.argv[1], 'ab', buffering=0)
while True:
    r, _, _ = select.select([m], [], [], 0.2)
    if r:
        try:
            out.write(os.read(m, 4096))
        except OSError:
            break
`;

const HOST = 'offline';
let init: { dir: string; fingerprint: string };
let server: TestServer;
let serverProc: Proc;
let agent: TestAgent;
let proc: Proc;
let pty: ChildProcess;
let W: string;
let fileSink: string;
let ttyOut: string;
let ttyPath: string;

before(async () => {
  const root = tempDir('tw-offline-');
  W = join(root, 'watched');
  mkdirSync(W);
  fileSink = join(root, 'alarms.log');
  ttyOut = join(root, 'console.out');
  writeFileSync(ttyOut, '');
  pty = spawn('python3', ['-c', PTY, ttyOut], { stdio: ['ignore', 'pipe', 'inherit'] });
  ttyPath = await new Promise<string>((res, rej) => {
    createInterface({ input: pty.stdout! }).once('line', (l) => res(l.trim()));
    pty.once('error', rej);
  });
  assert.match(ttyPath, /^\/dev\/pts\/\d+$/);
  init = initServer();
  server = await startServer(init);
  serverProc = server.proc;
  agent = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nfallback: [${fileSink}, ${ttyPath}, /dev/ttyTWNOSUCH]\nwatch:\n  - { path: ${W}, recursive: true }\n` });
  proc = runAgent(agent);
  await proc.waitLog((o) => o.msg === 'report sent', 30_000);
});

after(async () => {
  spawnSync('chattr', ['-a', fileSink], { stdio: 'ignore' });
  proc?.signal('SIGTERM');
  await proc?.exited;
  serverProc?.signal('SIGTERM');
  await serverProc?.exited;
  pty?.kill('SIGTERM'); // the helper this test started, by its handle
});

const grepSinks = (needle: string) => {
  const f = existsSync(fileSink) ? readFileSync(fileSink, 'utf8') : '';
  const t = readFileSync(ttyOut, 'utf8');
  return f.includes(needle) && t.includes(needle) ? { f, t } : null;
};

test('while connected nothing goes to the fallback sinks', async () => {
  writeFileSync(join(W, 'online.txt'), 'seen by the server\n');
  await waitFor(async () => (await openAlarms(server, HOST)).some((a) => a.subject === join(W, 'online.txt')), { what: 'the online finding stored' });
  assert.equal(grepSinks('online.txt'), null);
});

test('server unreachable: a finding is in the file sink and on the pseudo-terminal within 1 s', async () => {
  serverProc.signal('SIGTERM');
  await serverProc.exited;
  await proc.waitLog((o) => o.msg === 'disconnected');
  const p = join(W, 'while-away.txt');
  const t0 = Date.now();
  writeFileSync(p, 'made while the server is gone\n');
  const got = await waitFor(() => grepSinks(p), { timeoutMs: 5000, everyMs: 10, what: 'the finding in both sinks' });
  const ms = Date.now() - t0;
  console.log(`# finding to file sink and pty: ${ms} ms`);
  assert.ok(ms < 1000, `took ${ms} ms`);
  const line = new RegExp(`^tripwarden: host=${HOST} kind=file-changed subject=${p} hash=[0-9a-f]{12} n=\\d+`, 'm');
  assert.match(got.f, line);
  assert.match(got.t.replace(/\r/g, ''), line);
  // The server silent for longer than the interval: network-lost goes to the sinks too.
  await waitFor(() => grepSinks('kind=network-lost'), { what: 'network-lost in the sinks' });
});

test('a failing sink is reported once, and to the server as a note when the link returns', async () => {
  writeFileSync(join(W, 'second.txt'), 'another\n');
  await waitFor(() => grepSinks('second.txt'), { what: 'the second finding' });
  const failures = proc.lines.filter((l) => l.includes('fallback sink failed'));
  assert.equal(failures.length, 1, failures.join('\n'));
  assert.match(failures[0]!, /ttyTWNOSUCH/);
  serverProc = await serveOn(init, server.port);
  await serverProc.waitLog((o) => o.msg === 'agent watch note' && String(o.note).includes('ttyTWNOSUCH'), 20_000);
  // Delivered when the link returned: the offline finding, and network-lost with its start and end.
  await waitFor(async () => (await openAlarms(server, HOST)).some((a) => a.subject === join(W, 'while-away.txt')), { what: 'the offline finding stored' });
  const resolvedLost = async () => {
    const c = server.ctx();
    try {
      return (await c.alarms.list({ host: HOST })).find((a) => a.kind === 'network-lost' && a.resolvedAt);
    } finally {
      await c.close();
    }
  };
  const lost = await waitFor(resolvedLost, { what: 'network-lost opened and resolved' });
  const d = lost.detail as { startedAt: string; endedAt: string };
  assert.ok(Date.parse(d.endedAt) > Date.parse(d.startedAt), JSON.stringify(lost));
  assert.equal(lost.severity, 'warning');
});
