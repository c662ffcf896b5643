/**
 * Losing nothing while the server is gone: with the server stopped, 1,000
 * files appear in a watched directory; the agent spools every finding; the
 * server comes back on the same port and stores each record exactly once, in
 * chain order. The agent is then killed with -9 in the middle of the replay
 * and restarted: still exactly once.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { chainOf, eventPaths, ledger, ledgerCount, serveOn, spoolHead, spoolLines } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'spooler';
const FILES = 1000;
let init: { dir: string; fingerprint: string };
let server: TestServer;
let serverProc: Proc;
let agent: TestAgent;
let proc: Proc;
let W: string;
let staging: string;
let fallbackFile: string;

before(async () => {
  const root = tempDir('tw-spool-');
  W = join(root, 'watched');
  staging = join(root, 'staging');
  mkdirSync(W);
  mkdirSync(staging);
  fallbackFile = join(root, 'fallback.log');
  init = initServer();
  server = await startServer(init);
  serverProc = server.proc;
  agent = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nfallback: [${fallbackFile}]\nwatch:\n  - { path: ${W}, recursive: true }\n` });
  proc = runAgent(agent);
  await proc.waitLog((o) => o.msg === 'report sent', 30_000);
});

after(async () => {
  spawnSync('chattr', ['-a', fallbackFile], { stdio: 'ignore' }); // the sink made it append-only (root)
  proc?.signal('SIGTERM');
  await proc?.exited;
  serverProc?.signal('SIGTERM');
  await serverProc?.exited;
});

test('server stopped, 1,000 findings, server back: all stored exactly once, in order; kill -9 mid-replay changes nothing', async () => {
  serverProc.signal('SIGTERM');
  await serverProc.exited;
  await proc.waitLog((o) => o.msg === 'disconnected');
  const before = spoolHead(agent.stateDir).n;

  // 1,000 files appear one by one (each written elsewhere, then renamed in whole).
  const names: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const name = `f${String(i).padStart(4, '0')}.txt`;
    writeFileSync(join(staging, name), `finding ${i}\n`);
    renameSync(join(staging, name), join(W, name));
    names.push(join(W, name));
    if (i % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  const t0 = Date.now();
  await waitFor(
    () =>
      new Set(
        eventPaths(
          spoolLines(agent.stateDir)
            .slice(1)
            .map((l) => l.body as Record<string, unknown>),
        ),
      ).size >= FILES,
    { timeoutMs: 30_000, what: 'every finding in the spool' },
  );
  const spooledIn = Date.now() - t0;
  const head = spoolHead(agent.stateDir);
  const records = head.n - before;
  console.log(`# ${FILES} files -> ${records} spooled records (spool complete ${spooledIn} ms after the last file)`);

  // The outage lasts until the agent has declared it (server unreachable for longer than the interval):
  // a fast spool would otherwise end it before any network-lost finding exists to replay.
  await proc.waitLog((o) => o.msg === 'network lost', 30_000);

  // The server comes back on the port the agent knows; kill -9 the agent once part of the replay is stored.
  const storedBefore = ledgerCount(init, HOST);
  serverProc = await serveOn(init, server.port);
  const r0 = Date.now();
  let atKill = 0;
  await waitFor(
    () => {
      const c = ledgerCount(init, HOST) - storedBefore;
      if (c >= Math.min(20, Math.floor(records / 3))) {
        atKill = c;
        return true;
      }
      return false;
    },
    { timeoutMs: 30_000, everyMs: 2, what: 'the replay to start' },
  );
  proc.signal('SIGKILL');
  await proc.exited;
  console.log(`# killed -9 with ${atKill} of ${records} records stored (${atKill < records ? 'mid-replay' : 'replay had already finished'})`);

  proc = runAgent(agent);
  await waitFor(() => (chainOf(init, HOST)?.acked_n ?? 0) >= head.n, { timeoutMs: 40_000, what: 'the whole spool acknowledged' });
  console.log(`# replay to the last ack: ${Date.now() - r0} ms (including the agent's restart)`);

  const rows = ledger(init, HOST);
  const mine = rows.filter((r) => r.n > before);
  // Exactly once: one row per chain number, contiguous, stored in chain order.
  // (Records beyond the files' are the network-lost finding, opened and closed.)
  const last = mine[mine.length - 1]!.n;
  assert.ok(last >= head.n);
  assert.deepEqual(
    mine.map((r) => r.n),
    Array.from({ length: last - before }, (_, i) => before + 1 + i),
  );
  assert.equal(new Set(mine.map((r) => r.hash)).size, mine.length);
  // None lost: every file appears among the stored events, and the files came in the order they were made.
  const paths = eventPaths(mine.map((r) => r.body));
  const firstSeen = [...new Set(paths)];
  assert.equal(firstSeen.length, FILES);
  assert.deepEqual(firstSeen, names);
  // The records keep their origin (the first run's boot), though a later connection delivered part of them.
  const events = mine.filter((r) => r.kind === 'event');
  assert.ok(events.every((r) => r.origin_boot === events[0]!.origin_boot));
  assert.ok(mine.some((r) => r.received_boot !== r.origin_boot));
  assert.ok(proc.lines.some((l) => l.includes('replaying the spool')));
  const tampered = (await openAlarms(server, HOST)).filter((a) => a.kind === 'agent-tampered');
  assert.deepEqual(tampered, []);
  // The outage itself arrives as a network-lost finding with its start and end (the open one
  // survived the kill -9 and was closed by the next run).
  await waitFor(() => ledger(init, HOST).some((r) => r.kind === 'network-lost' && JSON.parse(r.body!).endedAt !== null), { timeoutMs: 15_000, what: 'network-lost ended' }).catch(
    (err: Error) => {
      const kinds = ledger(init, HOST)
        .filter((r) => r.kind !== 'event')
        .map((r) => `${r.n} ${r.kind} ${r.body}`);
      throw new Error(`${err.message}\nledger: ${kinds.join('\n')}\nagent: ${proc.describe(30)}`);
    },
  );
  const lost = ledger(init, HOST)
    .filter((r) => r.kind === 'network-lost')
    .map((r) => JSON.parse(r.body!) as { startedAt: number; endedAt: number | null });
  assert.ok(lost.some((b) => b.endedAt === null) && lost.some((b) => b.endedAt !== null && b.endedAt > b.startedAt), JSON.stringify(lost));
  // Acked records leave the agent's spool.
  await waitFor(() => spoolLines(agent.stateDir).length === 1, { what: 'the spool compacted to its header' });
  // While the server was gone, the findings went to the fallback file too.
  const { readFileSync } = await import('node:fs');
  const fb = readFileSync(fallbackFile, 'utf8');
  assert.match(fb, new RegExp(`^tripwarden: host=${HOST} kind=file-changed subject=${names[0]} hash=[0-9a-f]{12} n=\\d+`, 'm'));
});
