/**
 * Replay and clone defences: a replayed heartbeat opens `replay`; two agents
 * with one key open `identity-clone` naming both connections; a host restored
 * from a snapshot (older spool and sequence) gets a `replay` warning "state
 * rolled back" and carries on with a new boot id instead of being locked out.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { identityOf, rawConnect } from '../helpers/raw-client.ts';
import { ledger, spoolHead, spoolLines } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
const procs: Proc[] = [];
const facts = { hostname: 'x', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 };
const hello = (bootId: string, seq: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'hello', bootId, seq, sentAt: Date.now(), protocol: 1, agentVersion: 't', interval: 1000, facts, ...extra });

function watchedAgent(host: string): { a: TestAgent; dir: string } {
  const dir = join(tempDir('tw-clone-'), 'watched');
  mkdirSync(dir);
  return { a: enrollAgent(server, host, { extra: `fullScanEvery: 1h\nfallback: []\nwatch:\n  - { path: ${dir}, recursive: true }\n` }), dir };
}
function start(a: TestAgent): Proc {
  const p = runAgent(a);
  procs.push(p);
  return p;
}
async function stop(p: Proc): Promise<void> {
  p.signal('SIGTERM');
  await p.exited;
}
/** Makes `count` findings and waits until the server acknowledged all of them. */
async function findings(x: { a: TestAgent; dir: string }, tag: string, count: number): Promise<void> {
  const h = spoolHead(x.a.stateDir).n;
  for (let i = 0; i < count; i++) writeFileSync(join(x.dir, `${tag}${i}`), `${tag} ${i}\n`);
  await waitFor(() => spoolHead(x.a.stateDir).n >= h + 1 && spoolLines(x.a.stateDir).length === 1 && ledger(server, x.a.host).some((r) => r.body?.includes(`${tag}${count - 1}`)), {
    what: `${tag} findings acknowledged`,
  });
}

before(async () => {
  server = await startServer(initServer());
});

after(async () => {
  for (const p of procs) if (p.child.exitCode === null) await stop(p);
  await server?.stop();
});

test('a replayed heartbeat opens replay and closes the connection', async () => {
  const a = enrollAgent(server, 'replayed');
  const id = identityOf(a.stateDir);
  const boot = randomUUID();
  const beat = JSON.stringify({ type: 'heartbeat', bootId: boot, seq: 1, sentAt: Date.now() });
  const out = await rawConnect(server.port, { ...id, send: [hello(boot, 0), beat, beat] });
  assert.equal(out.closeCode, 4001);
  const r = (await openAlarms(server, 'replayed')).find((x) => x.kind === 'replay');
  assert.ok(r);
  assert.equal(r.severity, 'critical');
});

test('two agents with one key: identity-clone, naming both boot ids and addresses', async () => {
  const one = watchedAgent('cloned');
  const p1 = start(one.a);
  await p1.waitLog((o) => o.msg === 'connected');
  // The copy: the same key, certificate and CA in another state dir, another process.
  const dir2 = tempDir('tw-clone2-');
  const copy: TestAgent = { host: 'cloned', stateDir: join(dir2, 'state'), config: join(dir2, 'agent.yml') };
  mkdirSync(copy.stateDir);
  for (const f of ['agent.key', 'agent.crt', 'ca.crt']) cpSync(join(one.a.stateDir, f), join(copy.stateDir, f));
  writeFileSync(copy.config, `server: ${server.url}\nstateDir: ${copy.stateDir}\ninterval: 1s\njitter: 100ms\ndefaults: false\nfallback: []\n`);
  const p2 = start(copy);
  const clone = await waitFor(async () => (await openAlarms(server, 'cloned')).find((x) => x.kind === 'identity-clone'), { what: 'identity-clone' });
  assert.equal(clone.severity, 'critical');
  const d = clone.detail as { bootIds: string[]; remotes: string[] };
  assert.equal(new Set(d.bootIds).size, 2);
  assert.equal(new Set(d.remotes).size, 2);
  assert.ok(d.remotes.every((r) => r.startsWith('127.0.0.1:')));
  await stop(p2);
  await stop(p1);
});

test('restored from a snapshot (older spool head, new boot): replay warning "state rolled back", and the agent carries on', async () => {
  const x = watchedAgent('restored');
  let p = start(x.a);
  await p.waitLog((o) => o.msg === 'report sent', 30_000);
  await findings(x, 'before', 2);
  await stop(p);
  const snap = tempDir('tw-snap-');
  cpSync(x.a.stateDir, snap, { recursive: true });
  p = start(x.a);
  await p.waitLog((o) => o.msg === 'report sent', 30_000);
  await findings(x, 'after', 3);
  await stop(p);
  // The snapshot comes back: spool and head as they were.
  rmSync(x.a.stateDir, { recursive: true });
  cpSync(snap, x.a.stateDir, { recursive: true });
  p = start(x.a);
  const w = await waitFor(async () => (await openAlarms(server, 'restored')).find((a) => a.kind === 'replay'), { what: 'the rolled-back warning' });
  assert.equal(w.severity, 'warning');
  assert.match(w.subject, /state rolled back/);
  await p.waitLog((o) => o.msg === 'report sent', 30_000);
  await findings(x, 'later', 1);
  // (Restoring the state dir changed the agent's own key files: that agent-tampered is the checks', rightly.)
  assert.deepEqual(
    (await openAlarms(server, 'restored')).filter((a) => a.kind === 'agent-tampered' && a.subject.startsWith('spool')),
    [],
  );
  await stop(p);
});

test('the same boot with an older sequence and spool head (a resumed VM): warning, refused with 4001, then a new boot id is accepted', async () => {
  const x = watchedAgent('resumed');
  const p = start(x.a);
  await p.waitLog((o) => o.msg === 'report sent', 30_000);
  await findings(x, 'f', 2);
  const boot = p.lines
    .map((l) => {
      try {
        return JSON.parse(l) as { bootId?: string };
      } catch {
        return {};
      }
    })
    .find((o) => o.bootId)!.bootId!;
  const old = ledger(server, 'resumed')[0]!;
  await stop(p);
  const id = identityOf(x.a.stateDir);
  const head = { n: old.n, hash: old.hash, pending: false };
  const out = await rawConnect(server.port, { ...id, send: [hello(boot, 0, { spool: head })] });
  assert.equal(out.closeCode, 4001);
  const alarms = (await openAlarms(server, 'resumed')).filter((a) => a.kind === 'replay');
  assert.deepEqual(
    alarms.map((a) => [a.severity, a.subject]),
    [['warning', 'state rolled back']],
  );
  const again = await rawConnect(server.port, { ...id, send: [hello(randomUUID(), 0, { spool: head })], waitMs: 1500 });
  assert.ok(
    again.frames.some((f) => (f as { type: string }).type === 'welcome'),
    JSON.stringify(again),
  );
});
