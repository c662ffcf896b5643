/**
 * Attack catalogue, the agent's state: an intruder deletes the agent's state
 * dir, its spool, or overwrites its key while it runs. The agent must not
 * fall over: it stays up, the server gets `agent-tampered` naming the path,
 * the fallback file gets a line, and a later edit of a guarded file still
 * reaches the server; with its state dir gone it still authenticates after
 * the server restarts. Attack-to-alarm times are recorded.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { ledger, serveOn } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';

let server: TestServer;
const procs: Proc[] = [];
const sinks: string[] = [];
let restarted: Proc | undefined;
let stateless: Up | undefined;

before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
});
after(async () => {
  report(import.meta.filename);
  for (const p of procs) p.signal('SIGKILL');
  await server?.stop();
  restarted?.signal('SIGTERM');
  await restarted?.exited;
  // The file sink is made append-only (chattr +a) when the agent runs as root: undo it so the temp dir can go.
  for (const f of sinks) spawnSync('chattr', ['-a', f], { stdio: 'ignore' });
});

interface Up {
  proc: Proc;
  stateDir: string;
  watched: string;
  sink: string;
}

async function upAgent(host: string): Promise<Up> {
  const root = tempDir('tw-attack-state-');
  const watched = join(root, 'watched');
  mkdirSync(watched);
  writeFileSync(join(watched, 'guarded.conf'), 'v1\n');
  const sink = join(root, 'fallback.log');
  sinks.push(sink);
  const a = enrollAgent(server, host, { extra: `fullScanEvery: 1h\nfallback: [${sink}]\nwatch:\n  - { path: ${watched}, recursive: true, critical: true }\n` });
  const proc = runAgent(a);
  procs.push(proc);
  await waitFor(async () => (await hostStatus(server, host)) === 'up', { timeoutMs: 20_000, what: `${host} up` });
  await waitForBaseline(server, host, 30_000);
  return { proc, stateDir: a.stateDir, watched, sink };
}

async function expectTampered(up: Up, host: string, attack: string, t0: number, subject: string) {
  const a = await waitFor(async () => (await openAlarms(server, host)).find((x) => x.kind === 'agent-tampered' && x.subject === subject), {
    timeoutMs: 15_000,
    what: `agent-tampered on ${subject}`,
  }).catch((err: Error) => {
    throw new Error(`${err.message}; ${up.proc.describe(30)}`);
  });
  assert.equal(a.severity, 'critical');
  record(import.meta.filename, { attack, kind: 'agent-tampered', subject, budget: '1 s', budgetMs: 1000, ms: since(t0, a) });
}

/** After the attack: the agent is still running, the fallback file names the path, and a guarded edit still arrives. */
async function stillGuarding(host: string, up: Up, path: string) {
  await waitFor(() => existsSync(up.sink) && readFileSync(up.sink, 'utf8').includes(path), { timeoutMs: 10_000, what: `a fallback line naming ${path}` });
  const guarded = join(up.watched, 'guarded.conf');
  writeFileSync(guarded, 'v2 by the intruder\n');
  await waitFor(async () => (await openAlarms(server, host)).find((x) => x.kind === 'file-changed' && x.subject === guarded), {
    timeoutMs: 15_000,
    what: 'file-changed after the attack',
  });
  assert.equal(up.proc.child.exitCode, null, `agent still running: ${up.proc.describe()}`);
  assert.equal(up.proc.child.signalCode, null);
}

test("rm -rf the agent's state dir: agent-tampered on its key, a fallback line, and the agent keeps reporting", async () => {
  const up = await upAgent('atk-state-rm');
  const key = join(up.stateDir, 'agent.key');
  const t0 = Date.now();
  rmSync(up.stateDir, { recursive: true, force: true });
  await expectTampered(up, 'atk-state-rm', "rm -rf the agent's state dir", t0, key);
  await stillGuarding('atk-state-rm', up, key);
  stateless = up;
});

test("delete the agent's spool: agent-tampered on the spool file, a fallback line, and the agent keeps reporting", async () => {
  const up = await upAgent('atk-spool-rm');
  const spool = join(up.stateDir, 'spool.jsonl');
  const t0 = Date.now();
  rmSync(spool);
  rmSync(join(up.stateDir, 'spool.head'), { force: true });
  await expectTampered(up, 'atk-spool-rm', "delete the agent's spool", t0, spool);
  await stillGuarding('atk-spool-rm', up, spool);
  assert.ok(existsSync(spool), 'the spool is recreated');
});

test("overwrite the agent's key: agent-tampered on the key, a fallback line, and the agent keeps reporting", async () => {
  const up = await upAgent('atk-key-write');
  const key = join(up.stateDir, 'agent.key');
  const t0 = Date.now();
  writeFileSync(key, 'not a key\n');
  await expectTampered(up, 'atk-key-write', "overwrite the agent's key", t0, key);
  await stillGuarding('atk-key-write', up, key);
});

test('with its state dir gone, the agent still authenticates after the server restarts: its identity is held in memory', async (t) => {
  if (!stateless) return t.skip('the rm -rf test did not leave its agent running');
  const connected = () => stateless!.proc.lines.filter((l) => l.includes('"msg":"connected"')).length;
  const before = connected();
  await server.stop();
  restarted = await serveOn(server, server.port);
  await waitFor(() => connected() > before, { timeoutMs: 30_000, what: 'the agent reconnected' });
  const stored = ledger(server, 'atk-state-rm').length;
  const guarded = join(stateless.watched, 'guarded.conf');
  writeFileSync(guarded, 'v3 after the restart\n');
  await waitFor(
    () =>
      ledger(server, 'atk-state-rm')
        .slice(stored)
        .some((r) => r.body?.includes(guarded)),
    { timeoutMs: 15_000, what: 'the edit stored after the reconnect' },
  );
  assert.equal(stateless.proc.child.exitCode, null, `agent still running: ${stateless.proc.describe()}`);
});
