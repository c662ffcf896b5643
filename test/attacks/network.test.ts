/**
 * Attack catalogue (docs/ATTACKS.md): cut the network, then change a guarded file.
 * The server process is stopped to cut the agent off; the change must be in
 * the agent's fallback file sink at once, and reach the server as an alarm
 * row when the link returns (the server started again on the port the agent
 * knows). Two figures: attack to the sink line, and link back to the alarm row.
 * Then the harder cut: the server frozen with every connection open, which
 * TCP cannot see; the agent's unanswered replies must.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { serveOn } from '../helpers/spool.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';
import { makeSandbox, type Sandbox, someBinary } from './sandbox.ts';

const HOST = 'atk-offline';
let init: { dir: string; fingerprint: string };
let server: TestServer;
let serverProc: Proc;
let agent: TestAgent;
let proc: Proc;
let box: Sandbox;
let sink: string;

before(async () => {
  box = makeSandbox(HOST);
  sink = join(box.scratch, 'tripwarden-fallback.log');
  init = initServer({ grace: '1s' });
  server = await startServer(init);
  serverProc = server.proc;
  agent = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nfallback: [${sink}]\n${box.watchYaml}` });
  proc = runAgent(agent);
  await waitForBaseline(server, HOST, 30_000);
});

after(async () => {
  report(import.meta.filename);
  proc?.signal('SIGTERM');
  await proc?.exited;
  serverProc?.signal('SIGTERM');
  await serverProc?.exited;
  // The agent makes its file sink append-only where it can; the temp dir is removed at exit.
  if (sink) spawnSync('chattr', ['-a', sink], { stdio: 'ignore' });
});

test('cut the network, then replace a guarded binary: in the fallback sink at once, at the server when the link returns', async () => {
  serverProc.signal('SIGTERM');
  await serverProc.exited;
  await proc.waitLog((o) => o.msg === 'disconnected');
  const trojan = join(box.scratch, 'tripwire.new');
  copyFileSync(someBinary('/usr/bin/id'), trojan);
  appendFileSync(trojan, 'trojan');
  chmodSync(trojan, 0o755);
  const t0 = Date.now();
  renameSync(trojan, box.tripwire);
  const line = new RegExp(`^tripwarden: host=${HOST} kind=file-changed subject=${box.tripwire.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm');
  await waitFor(() => existsSync(sink) && line.test(readFileSync(sink, 'utf8')), { timeoutMs: 10_000, everyMs: 10, what: 'the finding in the fallback file sink' });
  record(import.meta.filename, {
    attack: 'cut the network, change a guarded file: fallback sink',
    kind: 'file-changed',
    subject: box.tripwire,
    budget: 'at once (1 s)',
    budgetMs: 1000,
    ms: Date.now() - t0,
  });
  assert.equal(
    (await openAlarms(server, HOST)).some((x) => x.subject === box.tripwire),
    false,
    'nothing at the server while it is down',
  );

  const back = Date.now();
  serverProc = await serveOn(init, server.port);
  const backUp = Date.now();
  const a = await waitFor(async () => (await openAlarms(server, HOST)).find((x) => x.kind === 'file-changed' && x.subject === box.tripwire), {
    timeoutMs: 30_000,
    what: 'the offline finding stored',
  });
  assert.equal(a.host, HOST);
  assert.equal(a.severity, 'critical');
  console.log(`server restart took ${backUp - back} ms`);
  record(import.meta.filename, {
    attack: 'cut the network, change a guarded file: server, from the link returning',
    kind: 'file-changed',
    subject: box.tripwire,
    budget: 'when the link returns (reconnect backoff, capped at 5 s here)',
    budgetMs: 5500,
    ms: since(backUp, a),
  });
});

test('the server stops answering with the connection still open (frozen), then a guarded file is edited: in the fallback sink within two intervals, at the server when it answers again', async () => {
  // Back from the first test: up again, and a few cycles for its network-lost to close.
  await waitFor(async () => (await hostStatus(server, HOST)) === 'up', { timeoutMs: 30_000, what: 'the agent up again' });
  await sleep(2500);
  const before = readFileSync(sink, 'utf8').length;
  const sinkSince = () => readFileSync(sink, 'utf8').slice(before);
  // SIGSTOP keeps every socket open and the kernel still acks the TCP segments: to TCP the link looks healthy
  // (as behind a firewall that drops, for ~15 minutes). Only the agent's owed replies show the silence.
  serverProc.signal('SIGSTOP');
  let resumed = false;
  try {
    const t0 = Date.now();
    appendFileSync(box.policy, '\n# frozen-server edit\n');
    const line = new RegExp(`^tripwarden: host=${HOST} kind=file-changed subject=${box.policy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm');
    await waitFor(() => line.test(sinkSince()), { timeoutMs: 10_000, everyMs: 10, what: 'the unheard finding in the fallback file sink' });
    record(import.meta.filename, {
      attack: 'server frozen (connection open), change a guarded file: fallback sink',
      kind: 'file-changed',
      subject: box.policy,
      budget: 'two intervals (2 s)',
      budgetMs: 2000,
      ms: Date.now() - t0,
    });
    // network-lost goes through the spool before the sink, so it may land a moment after the unheard finding.
    await waitFor(() => /kind=network-lost subject=[^\n]*server unreachable/.test(sinkSince()), {
      timeoutMs: 5_000,
      everyMs: 10,
      what: 'network-lost naming the silent server in the fallback sink',
    });
    const back = Date.now();
    serverProc.signal('SIGCONT');
    resumed = true;
    const a = await waitFor(async () => (await openAlarms(server, HOST)).find((x) => x.kind === 'file-changed' && x.subject === box.policy), {
      timeoutMs: 30_000,
      what: 'the finding stored once the server answers',
    });
    assert.equal(a.severity, 'critical');
    record(import.meta.filename, {
      attack: 'server frozen, change a guarded file: server, from it answering again',
      kind: 'file-changed',
      subject: box.policy,
      budget: 'when the server answers (1 s)',
      budgetMs: 1000,
      ms: since(back, a),
    });
  } finally {
    if (!resumed) serverProc.signal('SIGCONT');
  }
});
