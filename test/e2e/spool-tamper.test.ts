/**
 * A spool edited or truncated by hand is seen by the server as
 * `agent-tampered` when the agent reconnects: an edited record's hash no
 * longer verifies; records cut from the end leave the announced head
 * unreached (the agent keeps counting from `spool.head`).
 */

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { serveOn, spoolHead, spoolLines } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

let init: { dir: string; fingerprint: string };
let server: TestServer;
let serverProc: Proc;
const agents: { host: string; a: TestAgent; dir: string; proc?: Proc }[] = [];

before(async () => {
  init = initServer();
  server = await startServer(init);
  serverProc = server.proc;
  for (const host of ['edited', 'truncated']) {
    const dir = join(tempDir('tw-tamper-'), 'watched');
    mkdirSync(dir);
    const a = enrollAgent(server, host, { extra: `fullScanEvery: 1h\nfallback: []\nwatch:\n  - { path: ${dir}, recursive: true }\n` });
    agents.push({ host, a, dir, proc: runAgent(a) });
  }
  for (const x of agents) await x.proc!.waitLog((o) => o.msg === 'report sent', 30_000);
});

after(async () => {
  for (const x of agents) {
    x.proc?.signal('SIGTERM');
    await x.proc?.exited;
  }
  serverProc?.signal('SIGTERM');
  await serverProc?.exited;
});

test('spool edited or truncated by hand while the server is away: agent-tampered on reconnect', async () => {
  serverProc.signal('SIGTERM');
  await serverProc.exited;
  for (const x of agents) {
    const start = spoolHead(x.a.stateDir).n;
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(x.dir, `f${i}`), `finding ${i}\n`);
      await waitFor(() => spoolHead(x.a.stateDir).n > start + i, { what: `record ${i} of ${x.host}` });
    }
    x.proc!.signal('SIGTERM');
    await x.proc!.exited;
  }
  // Edited: a path in the second spooled record changes; the JSON stays valid.
  const [edited, truncated] = agents as [(typeof agents)[0], (typeof agents)[0]];
  const ep = join(edited.a.stateDir, 'spool.jsonl');
  const lines = readFileSync(ep, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`${edited.dir}/f1`));
  assert.ok(i > 0);
  lines[i] = lines[i]!.replaceAll(`${edited.dir}/f1`, `${edited.dir}/innocent`);
  writeFileSync(ep, lines.join('\n'));
  // Truncated: the last record is cut off (spool.head still names it).
  const tp = join(truncated.a.stateDir, 'spool.jsonl');
  const tl = readFileSync(tp, 'utf8').split('\n').filter(Boolean);
  writeFileSync(tp, `${tl.slice(0, -1).join('\n')}\n`);
  assert.equal(spoolLines(truncated.a.stateDir).length, tl.length - 1);

  serverProc = await serveOn(init, server.port);
  for (const x of agents) x.proc = runAgent(x.a);
  await truncated.proc!.waitLog((o) => String(o.msg).includes('shorter than its head'));
  const tamper = async (host: string) => (await openAlarms(server, host)).filter((a) => a.kind === 'agent-tampered');
  const e = await waitFor(async () => (await tamper('edited')).find((a) => a.subject === 'spool record altered'), { what: 'agent-tampered for the edited spool' });
  assert.equal(e.severity, 'critical');
  const t = await waitFor(async () => (await tamper('truncated')).find((a) => a.subject === 'spool chain broken'), { what: 'agent-tampered for the truncated spool' });
  assert.match(JSON.stringify(t.detail), /never delivered|missing/);
  // Neither agent is locked out: both stay up and their next finding is stored.
  for (const x of agents) {
    // The tamper alarms come from the spool's replay at connect, before the watch starts: a file written
    // before the first scan is in that scan's report, not an event (found with the machine loaded).
    await x.proc!.waitLog((o) => o.msg === 'report sent', 60_000);
    const h = spoolHead(x.a.stateDir).n;
    writeFileSync(join(x.dir, 'after'), 'after the tampering\n');
    await waitFor(() => spoolHead(x.a.stateDir).n > h && spoolLines(x.a.stateDir).length === 1, { what: `${x.host} delivering again` });
  }
});
