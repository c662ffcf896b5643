/**
 * Attack catalogue (docs/ATTACKS.md), the agent itself: kill -9 it, freeze it with
 * SIGSTOP, replace its executable on disk, edit its config. One real server
 * (grace 1 s), one agent per attack (interval 1 s); each alarm must name the
 * host and the subject, and the attack-to-alarm time is recorded.
 */

import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';

const built = process.env.TRIPWARDEN_AGENT_EXE;
// docs/REFERENCE.md: last heartbeat + 2 × interval + grace = 3 s here; the server sweeps every 250 ms.
const DEADLINE = 'deadline (last heartbeat + 2 × 1 s + 1 s, swept every 250 ms)';
const DEADLINE_MS = 3250;
let server: TestServer;
const procs: Proc[] = [];

before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
});
after(async () => {
  report(import.meta.filename);
  for (const p of procs) {
    p.signal('SIGCONT');
    p.signal('SIGKILL');
  }
  await server?.stop();
});

async function upAgent(host: string, extra = ''): Promise<{ proc: Proc; config: string }> {
  const a = enrollAgent(server, host, { extra });
  const proc = runAgent(a);
  procs.push(proc);
  await waitFor(async () => (await hostStatus(server, host)) === 'up', { timeoutMs: 20_000, what: `${host} up` });
  // Attacks start once the agent has its baseline at the server (its watches are set by then).
  await waitForBaseline(server, host, 30_000);
  return { proc, config: a.config };
}

async function expectAlarm(host: string, attack: string, t0: number, kind: string, subject: string, budget: string, budgetMs: number, timeoutMs = 10_000) {
  const a = await waitFor(async () => (await openAlarms(server, host)).find((x) => x.kind === kind && x.subject === subject), { timeoutMs, what: `${kind} on ${subject}` });
  assert.equal(a.host, host);
  record(import.meta.filename, { attack, kind, subject, budget, budgetMs, ms: since(t0, a) });
  return a;
}

test('kill -9 the agent: agent-disconnected at once, agent-missing at the deadline', async () => {
  const { proc } = await upAgent('atk-kill');
  const t0 = Date.now();
  proc.signal('SIGKILL');
  await proc.exited;
  const a = await expectAlarm('atk-kill', 'kill -9 the agent', t0, 'agent-disconnected', 'connection lost without goodbye', '1 s', 1000);
  assert.equal(a.severity, 'warning');
  const m = await expectAlarm('atk-kill', 'kill -9 the agent (deadline)', t0, 'agent-missing', 'no heartbeat before the deadline', DEADLINE, DEADLINE_MS);
  assert.equal(m.severity, 'critical');
});

test('SIGSTOP the agent: agent-missing at the deadline while its connection stays open', async () => {
  const { proc } = await upAgent('atk-stop');
  const t0 = Date.now();
  proc.signal('SIGSTOP');
  try {
    const a = await expectAlarm('atk-stop', 'SIGSTOP the agent', t0, 'agent-missing', 'no heartbeat before the deadline', DEADLINE, DEADLINE_MS);
    assert.equal(a.severity, 'critical');
    assert.equal(
      (await openAlarms(server, 'atk-stop')).some((x) => x.kind === 'agent-disconnected'),
      false,
      'a frozen agent is not a disconnect',
    );
  } finally {
    proc.signal('SIGCONT');
  }
  await waitFor(async () => !(await openAlarms(server, 'atk-stop')).some((x) => x.kind === 'agent-missing'), { what: 'resolved after SIGCONT' });
});

test("replace the agent's executable on disk (rename over it): agent-tampered on the executable", {
  skip: built ? false : 'no compiled agent: set TRIPWARDEN_AGENT_EXE (npm test builds dist/tripwarden-agent and sets it); from source the "executable" is node itself',
}, async () => {
  const dir = tempDir('tw-attack-exe-');
  mkdirSync(join(dir, 'usr/sbin'), { recursive: true });
  const exe = join(dir, 'usr/sbin/tripwarden-agent');
  copyFileSync(built!, exe);
  chmodSync(exe, 0o700);
  const prev = process.env.TRIPWARDEN_AGENT_EXE;
  process.env.TRIPWARDEN_AGENT_EXE = exe; // enroll and run the installed copy
  try {
    await upAgent('atk-exe');
    // A running executable cannot be written (ETXTBSY): the intruder renames a patched copy over it.
    const patched = join(dir, 'usr/sbin/.tripwarden-agent.new');
    copyFileSync(exe, patched);
    appendFileSync(patched, Buffer.from('patched'));
    chmodSync(patched, 0o700);
    const t0 = Date.now();
    renameSync(patched, exe);
    const a = await expectAlarm('atk-exe', "replace the agent's executable by rename", t0, 'agent-tampered', exe, '1 s', 1000);
    assert.equal(a.severity, 'critical');
  } finally {
    process.env.TRIPWARDEN_AGENT_EXE = prev;
  }
});

test('edit the agent config: agent-tampered and file-changed on the config file', async () => {
  const { config } = await upAgent('atk-cfg');
  const t0 = Date.now();
  appendFileSync(config, 'defaults: true\n'); // e.g. to quietly change what is watched at the next restart
  const a = await expectAlarm('atk-cfg', 'edit the agent config', t0, 'agent-tampered', config, '1 s', 1000);
  assert.equal(a.severity, 'critical');
  const fc = (await openAlarms(server, 'atk-cfg')).find((x) => x.kind === 'file-changed' && x.subject === config);
  assert.ok(fc, 'file-changed on the config too');
});

test("replace the agent's executable while it starts (before its first scan): agent-tampered on the executable", {
  skip: built ? false : 'no compiled agent: set TRIPWARDEN_AGENT_EXE',
}, async () => {
  const dir = tempDir('tw-attack-exe-');
  mkdirSync(join(dir, 'usr/sbin'), { recursive: true });
  const exe = join(dir, 'usr/sbin/tripwarden-agent');
  copyFileSync(built!, exe);
  chmodSync(exe, 0o700);
  const patched = join(dir, 'usr/sbin/.tripwarden-agent.new');
  copyFileSync(exe, patched);
  appendFileSync(patched, Buffer.from('patched'));
  chmodSync(patched, 0o700);
  const prev = process.env.TRIPWARDEN_AGENT_EXE;
  process.env.TRIPWARDEN_AGENT_EXE = exe;
  try {
    const a = enrollAgent(server, 'atk-exe-boot');
    const proc = runAgent(a);
    procs.push(proc);
    // The old image is running (it has logged); its first full scan (hashing ~100 MB of itself) is still to come.
    await proc.waitLog((o) => o.msg === 'agent started', 20_000);
    const t0 = Date.now();
    renameSync(patched, exe);
    // Before its first scan the file goes into the baseline as found; the hash of the running image (from hello,
    // read from /proc/self/exe) stands in for it there, so the first report already shows the change.
    const got = await waitFor(async () => (await openAlarms(server, 'atk-exe-boot')).find((x) => x.kind === 'agent-tampered' && x.subject === exe), {
      timeoutMs: 15_000,
      what: 'agent-tampered on the executable',
    });
    assert.equal(got.severity, 'critical');
    record(import.meta.filename, {
      attack: "replace the agent's executable while it starts",
      kind: 'agent-tampered',
      subject: exe,
      budget: '1 s',
      budgetMs: 1000,
      ms: since(t0, got),
    });
  } finally {
    process.env.TRIPWARDEN_AGENT_EXE = prev;
  }
});
