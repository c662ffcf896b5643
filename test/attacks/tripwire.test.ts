/**
 * Attack catalogue (docs/ATTACKS.md), files: what an intruder with root does first to a
 * host's own integrity checker — replace the tripwire binary by rename, edit its
 * policy, truncate its database, make a guarded binary setuid, and change a file
 * then put its content's mtime back with `touch -r`. One real server, one real
 * agent (the compiled one under `npm test`) guarding a sandbox laid out like
 * the real thing; each attack must open a critical alarm naming the host and
 * the file, and the attack-to-alarm time is recorded (budget 1 s, not asserted).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';
import { makeSandbox, type Sandbox, someBinary } from './sandbox.ts';

const HOST = 'tw-files';
let server: TestServer;
let proc: Proc;
let box: Sandbox;

before(async () => {
  box = makeSandbox(HOST);
  server = await startServer(initServer({ grace: '1s' }));
  const agent = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\n${box.watchYaml}` });
  proc = runAgent(agent);
  await waitForBaseline(server, HOST, 30_000);
});

after(async () => {
  report(import.meta.filename);
  proc?.signal('SIGTERM');
  await proc?.exited;
  await server?.stop();
});

type Changes = Record<string, { old: unknown; new: unknown }>;
const changed = (a: { detail: unknown }) => Object.keys((a.detail as { changes?: Changes }).changes ?? {});

/** Waits for an open alarm of this kind on this subject, asserts host and severity, records the time. */
async function expectAlarm(attack: string, t0: number, kind: string, subject: string) {
  const a = await waitFor(async () => (await openAlarms(server, HOST)).find((x) => x.kind === kind && x.subject === subject), { timeoutMs: 10_000, what: `${kind} on ${subject}` });
  assert.equal(a.host, HOST);
  assert.equal(a.severity, 'critical');
  record(import.meta.filename, { attack, kind, subject, budget: '1 s', budgetMs: 1000, ms: since(t0, a) });
  return a;
}

test('replace the tripwire binary by rename: file-changed (critical) on the binary, new inode and hash', async () => {
  const trojan = join(box.scratch, 'tripwire.new');
  copyFileSync(someBinary('/usr/bin/id'), trojan);
  appendFileSync(trojan, 'trojan');
  chmodSync(trojan, 0o755);
  const t0 = Date.now();
  renameSync(trojan, box.tripwire);
  const a = await expectAlarm('replace the tripwire binary by rename', t0, 'file-changed', box.tripwire);
  assert.ok(changed(a).includes('ino') && changed(a).includes('sha256'), JSON.stringify(a.detail));
});

test('edit the tripwire policy: file-changed (critical) on tw.pol', async () => {
  const t0 = Date.now();
  appendFileSync(box.policy, '!/usr/sbin/backdoor ;\n');
  const a = await expectAlarm('edit the tripwire policy', t0, 'file-changed', box.policy);
  assert.ok(changed(a).includes('sha256'));
});

test('truncate the tripwire database: file-changed (critical) on the .twd, size 0', async () => {
  const t0 = Date.now();
  truncateSync(box.database, 0);
  const a = await expectAlarm('truncate the tripwire database', t0, 'file-changed', box.database);
  // The agent may report an intermediate state first; what it settles on is an empty file.
  await waitFor(
    async () => {
      const cur = (await openAlarms(server, HOST)).find((x) => x.id === a.id);
      return cur && (cur.detail as { changes?: Changes }).changes?.size?.new === 0;
    },
    { what: 'size 0 reported' },
  ).catch(() => assert.ok(changed(a).includes('size'), JSON.stringify(a.detail)));
});

test('chmod a guarded binary setuid: file-changed (critical) on its mode', async () => {
  const t0 = Date.now();
  chmodSync(box.passwd, 0o4755);
  const a = await expectAlarm('chmod a guarded binary setuid', t0, 'file-changed', box.passwd);
  assert.ok(changed(a).includes('mode'), JSON.stringify(a.detail));
});

test('restore content and mtime after a change (touch -r): still reported, and stays open', async () => {
  const ref = join(box.scratch, 'twcfg.ref');
  execFileSync('touch', ['-r', box.twcfg, ref]);
  const before = statSync(box.twcfg).mtimeMs;
  const original = 'ROOT =/usr/sbin\nPOLFILE =/etc/tripwire/tw.pol\nDBFILE =/var/lib/tripwire/$(HOSTNAME).twd\n';
  const t0 = Date.now();
  writeFileSync(box.twcfg, original.replace('/usr/sbin', '/usr/xbin')); // same size, other bytes
  execFileSync('touch', ['-r', ref, box.twcfg]);
  assert.equal(statSync(box.twcfg).mtimeMs, before);
  const a = await expectAlarm('change a file, put its mtime back (touch -r)', t0, 'file-changed', box.twcfg);
  assert.ok(changed(a).includes('sha256'), JSON.stringify(a.detail));
  // Now put the content back too, with the old mtime: inode change time still differs, so it stays reported.
  writeFileSync(box.twcfg, original);
  execFileSync('touch', ['-r', ref, box.twcfg]);
  await new Promise((r) => setTimeout(r, 2500)); // two intervals: the agent has measured the restored file
  const still = (await openAlarms(server, HOST)).find((x) => x.kind === 'file-changed' && x.subject === box.twcfg);
  assert.ok(still, 'content and mtime restored: the alarm is still open');
  assert.ok(changed(still).includes('ctime'), JSON.stringify(still.detail));
});
