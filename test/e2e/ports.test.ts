/**
 * Listening ports end to end: a real `serve`, a real `agent run` with ports
 * on, and a process the test starts that begins to listen. The agent reads
 * /proc/net and /proc/PID/fd; the server opens `port-opened` naming the
 * process, and resolves it when the listener goes away.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'listener';
let server: TestServer;
let agent: Proc;
let child: ChildProcess | null = null;

before(async () => {
  server = await startServer(initServer());
  // portSettle 0s: the listener is reported on the next cycle, as this test's timing expects.
  const a = enrollAgent(server, HOST, { ports: true, extra: 'portSettle: 0s\n' });
  agent = runAgent(a);
  await agent.waitLog((o) => o.msg === 'report sent', 30_000);
  await waitFor(
    () => {
      const c = server.ctx();
      try {
        return c.db!.prepare(`SELECT COUNT(*) FROM measured WHERE host = ? AND kind = 'port'`).pluck().get(HOST) as number;
      } finally {
        void c.close();
      }
    },
    { what: 'the baseline of listening ports', timeoutMs: 20_000 },
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; server said: ${server.proc.lines
        .filter((l) => /violation|"level":[45]0/.test(l))
        .slice(-5)
        .join(' | ')}; agent said: ${agent.lines
        .filter((l) => /"level":[45]0|report/.test(l))
        .slice(-6)
        .join(' | ')}`,
    );
  });
});

after(async () => {
  child?.kill('SIGKILL'); // only the process this test started
  agent?.signal('SIGTERM');
  await agent?.exited;
  await server?.stop();
});

test('a process that starts listening opens port-opened with its name; closing it resolves the alarm', async () => {
  // A distinctive process name: process.title sets /proc/PID/comm (15 characters at most).
  child = spawn(
    process.execPath,
    [
      '-e',
      `process.title = 'twe2elistener';
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const port = await waitFor(() => (out.includes('\n') ? Number(out.trim()) : undefined), { what: 'the child listening' });
  const subject = `tcp/127.0.0.1:${port}`;
  const startedAt = Date.now();
  const alarm = await waitFor(async () => (await openAlarms(server, HOST)).find((a) => a.kind === 'port-opened' && a.subject === subject), {
    timeoutMs: 15_000,
    what: 'port-opened',
  });
  const ms = Date.now() - startedAt;
  assert.equal(alarm.severity, 'warning');
  assert.equal((alarm.detail as { process: string }).process, 'twe2elistener');
  assert.deepEqual((alarm.detail as { pids: number[] }).pids, [child.pid]);
  const listed = JSON.parse(serverCli(['alarms', '--dir', server.dir, '--open', '--json']).stdout) as { kind: string; subject: string }[];
  assert.ok(
    listed.some((a) => a.kind === 'port-opened' && a.subject === subject),
    'alarms --json lists it',
  );
  console.log(`port-opened ${ms} ms after the listener started (agent interval 1s)`);

  child.kill('SIGKILL');
  await waitFor(async () => !(await openAlarms(server, HOST)).some((a) => a.kind === 'port-opened' && a.subject === subject), { timeoutMs: 15_000, what: 'the alarm resolved' });
});
