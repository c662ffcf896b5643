/**
 * Attack catalogue (docs/ATTACKS.md): remount a read-only mount read-write. The test,
 * as root, mounts a small tmpfs read-only inside a sandbox and lists it under
 * the agent's `mounts:`; the intruder's `mount -o remount,rw` must open
 * mount-writable on that mount point within one interval.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';

const HOST = 'atk-mount';
let server: TestServer;
let proc: Proc;
let M: string | null = null;
let skip = '';

before(async () => {
  M = join(tempDir('tw-attack-mnt-'), 'boot');
  mkdirSync(M);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tripwarden-attack', M], { encoding: 'utf8' });
  if (m.status !== 0) {
    skip = `cannot mount a tmpfs here (${(m.stderr || m.error?.message || 'mount failed').trim()})`;
    console.log(`skipping the remount attack: ${skip}`);
    M = null;
    return;
  }
  server = await startServer(initServer({ grace: '1s' }));
  proc = runAgent(enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nmounts:\n  - { path: ${M}, expect: ro }\n` }));
  await waitFor(
    () => {
      const c = server.ctx();
      try {
        return c.db!.prepare("SELECT 1 FROM measured WHERE host = ? AND kind = 'mount' AND key = ?").get(HOST, M);
      } finally {
        void c.close();
      }
    },
    { timeoutMs: 30_000, what: 'the mount reported' },
  );
});

after(async () => {
  if (M) report(import.meta.filename);
  proc?.signal('SIGTERM');
  await proc?.exited;
  await server?.stop();
  if (M) spawnSync('umount', [M]);
});

test('remount a read-only mount read-write: mount-writable on the mount point within one interval', async (t) => {
  if (!M) return t.skip(skip);
  assert.equal(
    (await openAlarms(server, HOST)).find((a) => a.kind === 'mount-writable'),
    undefined,
  );
  const t0 = Date.now();
  execFileSync('mount', ['-o', 'remount,rw', M]);
  const a = await waitFor(async () => (await openAlarms(server, HOST)).find((x) => x.kind === 'mount-writable' && x.subject === M), {
    timeoutMs: 10_000,
    what: `mount-writable on ${M}`,
  });
  assert.equal(a.host, HOST);
  assert.equal(a.severity, 'critical');
  assert.equal((a.detail as { state: string }).state, 'rw');
  record(import.meta.filename, {
    attack: 'remount a read-only mount read-write',
    kind: 'mount-writable',
    subject: M,
    budget: 'one interval (1 s)',
    budgetMs: 1100,
    ms: since(t0, a),
  });
  execFileSync('mount', ['-o', 'remount,ro', M]);
  await waitFor(async () => !(await openAlarms(server, HOST)).some((x) => x.kind === 'mount-writable'), { what: 'resolved when read-only again' });
});
