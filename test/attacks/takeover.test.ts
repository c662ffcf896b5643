/**
 * A silent takeover: root on the guarded host reads the agent's key, certificate and boot id (from its
 * log), freezes the real agent with SIGSTOP, connects as it with a far larger sequence number, then kills
 * it. The attacker's connection is indistinguishable by its credentials; the server names what it does
 * differently in `agent-impersonated`. A restart by systemd (new boot id) and a reconnect after a network
 * blip (the same boot, through a proxy whose connections are cut) stay quiet.
 */

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { identityOf } from '../helpers/raw-client.ts';
import { tempDir } from '../helpers/temp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let server: TestServer;
const procs: Proc[] = [];
const facts = { hostname: 'x', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 };
/** The server's shortest wait for a report a connection owes (takeover-watch.ts REPORT_WAIT_MIN_MS), and some. */
const REPORT_WAIT_MS = 10_000 + 2_000;

before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
});
after(async () => {
  for (const p of procs) {
    p.signal('SIGCONT');
    p.signal('SIGKILL');
  }
  await server?.stop();
});

function watchedAgent(host: string): TestAgent {
  const dir = join(tempDir('tw-takeover-'), 'watched');
  mkdirSync(dir);
  writeFileSync(join(dir, 'f'), 'x\n');
  return enrollAgent(server, host, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${dir}, recursive: true }\n` });
}

/** Starts the agent and waits until the server has its baseline and its heartbeats carried a digest. */
async function upAgent(a: TestAgent): Promise<{ proc: Proc; bootId: string }> {
  const proc = runAgent(a);
  procs.push(proc);
  const started = await proc.waitLog((o) => o.msg === 'agent started', 30_000);
  await waitForBaseline(server, a.host, 60_000);
  await sleep(3_000); // three heartbeats with the digest of the measured state
  return { proc, bootId: String(started.bootId) };
}

function hostRow(host: string): { last_seq: number; boot_id: string } {
  const c = server.ctx();
  try {
    return c.db!.prepare('SELECT last_seq, boot_id FROM hosts WHERE host = ?').get(host) as { last_seq: number; boot_id: string };
  } finally {
    void c.close();
  }
}

const impersonated = async (host: string) => (await openAlarms(server, host)).find((x) => x.kind === 'agent-impersonated');

test('freeze the agent, connect with its key and boot id and a huge sequence, kill it: agent-impersonated, critical, naming each sign', async () => {
  const a = watchedAgent('atk-takeover');
  const { proc, bootId } = await upAgent(a);
  const lastSeq = hostRow(a.host).last_seq;
  assert.ok(lastSeq > 0 && lastSeq < 1_000_000, `the real agent's sequence (${lastSeq}) is modest`);
  proc.signal('SIGSTOP');
  // The attacker: the agent's own files and boot id, a sequence number far past any the agent could reach.
  const id = identityOf(a.stateDir);
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/agent`, { key: id.key, cert: id.cert, ca: id.ca, rejectUnauthorized: true });
  const frames: { type: string; reason?: string }[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  let seq = 1e12;
  ws.send(JSON.stringify({ type: 'hello', bootId, seq, sentAt: Date.now(), protocol: 1, agentVersion: '0.1.0', interval: 1000, facts }));
  await waitFor(() => frames.some((f) => f.type === 'welcome'), { what: 'the attacker welcomed' });
  proc.signal('SIGKILL');
  await proc.exited;

  // At once: it superseded a live connection, its sequence jumped, its hello has no executable hash.
  const first = await waitFor(() => impersonated(a.host), { what: 'agent-impersonated at hello' });
  assert.equal(first.severity, 'critical');
  const firstSigns = (first.detail as { evidence: string[] }).evidence;
  // A server stalled by the machine's load reads the frozen agent's last frames late: then, and only then,
  // the superseded connection is not counted as live (takeover-watch.ts).
  const stalled = server.proc.lines.some((l) => l.includes('server behind'));
  const atHello = stalled && !firstSigns.includes('live-session-superseded') ? ['sequence-jump', 'no-exe-hash'] : ['live-session-superseded', 'sequence-jump', 'no-exe-hash'];
  assert.deepEqual(firstSigns, atHello);
  const jump = (first.detail as Record<string, { from: number; to: number }>)['sequence-jump']!;
  assert.equal(jump.to, 1e12);
  assert.ok(jump.from >= lastSeq && jump.from < 1_000_000);
  assert.equal((first.detail as { bootId: string }).bootId, bootId);

  // It keeps the host up with heartbeats, but sends no digest and does not answer the report asked of it.
  const beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', bootId, seq: ++seq, sentAt: Date.now() })), 1000);
  try {
    const all = await waitFor(
      async () => {
        const x = await impersonated(a.host);
        return x && (x.detail as { evidence: string[] }).evidence.length === atHello.length + 2 ? x : undefined;
      },
      { timeoutMs: REPORT_WAIT_MS + 10_000, what: 'the later signs added' },
    );
    assert.deepEqual((all.detail as { evidence: string[] }).evidence, [...atHello, 'no-state-digest', 'report-unanswered']);
    assert.equal(all.severity, 'critical');
    assert.ok(
      frames.some((f) => f.type === 'request-report' && f.reason === 'identity check'),
      'the server asked the attacker for a report',
    );
    assert.equal((await openAlarms(server, a.host)).filter((x) => x.kind === 'agent-impersonated').length, 1);
  } finally {
    clearInterval(beat);
    ws.terminate();
  }
});

/** A TCP proxy to the gateway whose connections can all be cut at once (a network blip). */
function cutProxy(port: number): Promise<{ port: number; cut(): void; close(): void }> {
  const pairs = new Set<[Socket, Socket]>();
  const srv: Server = createServer((c) => {
    const up = tcpConnect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [c, up];
    pairs.add(pair);
    c.pipe(up).pipe(c);
    const drop = () => {
      c.destroy();
      up.destroy();
      pairs.delete(pair);
    };
    c.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  return new Promise((res) =>
    srv.listen(0, '127.0.0.1', () =>
      res({
        port: (srv.address() as { port: number }).port,
        cut: () => {
          for (const [c, up] of [...pairs]) {
            c.destroy();
            up.destroy();
          }
        },
        close: () => srv.close(),
      }),
    ),
  );
}

test('a restart by systemd and a reconnect after a network blip stay quiet', async () => {
  // The restart: kill -9, started again with the same state: a new boot id, its sequence from 0.
  const r = watchedAgent('calm-restart');
  const first = await upAgent(r);
  first.proc.signal('SIGKILL');
  await first.proc.exited;
  const second = await upAgent(r);
  assert.notEqual(second.bootId, first.bootId);

  // The blip: the agent talks to the gateway through a proxy; every connection through it is cut.
  const b = watchedAgent('calm-blip');
  const proxy = await cutProxy(server.port);
  writeFileSync(b.config, readFileSync(b.config, 'utf8').replace(server.url, `wss://127.0.0.1:${proxy.port}`));
  try {
    const agent = await upAgent(b);
    const before = hostRow(b.host);
    proxy.cut();
    await agent.proc.waitLog((o) => o.msg === 'disconnected', 10_000);
    await waitFor(() => agent.proc.lines.filter((l) => l.includes('"connected"')).length >= 2, { what: 'the agent reconnected', timeoutMs: 20_000 });
    const afterRow = await waitFor(() => {
      const x = hostRow(b.host);
      return x.last_seq > before.last_seq ? x : undefined;
    });
    assert.equal(afterRow.boot_id, before.boot_id, 'the same boot reconnected');
    // Past the wait for the report the reconnect owes, with heartbeats all along.
    await sleep(REPORT_WAIT_MS);
    assert.equal(await impersonated(b.host), undefined);
  } finally {
    proxy.close();
  }
  assert.equal(await impersonated(r.host), undefined);
  assert.equal(hostRow(r.host).boot_id, second.bootId);
});
