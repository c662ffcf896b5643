/**
 * The daemons check against real processes in the machine's /proc: a copy of
 * `sleep` under its own name plays the daemon, so nothing real is touched.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CheckContext } from '../../../agent/checks/check.ts';
import { DaemonsCheck } from '../../../agent/checks/daemons.ts';
import type { DaemonEntry } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

const SLEEP = ['/usr/bin/sleep', '/bin/sleep'].find((p) => existsSync(p))!;
const LIBM = ['/usr/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/aarch64-linux-gnu/libm.so.6', '/lib64/libm.so.6'].find((p) => existsSync(p));
const INTERVAL = 1000;

/** A daemon named `name`: a copy of sleep at `<tmp>/<name>`, and a daemons check for it on a fake clock. */
function daemon(name: string) {
  const exe = join(tempDir('tw-daemon-real-'), name);
  copyFileSync(SLEEP, exe);
  chmodSync(exe, 0o755);
  const clock = new FakeClock();
  const ctx = { cfg: { daemons: [{ name, exe }], defaults: false }, clock } as unknown as CheckContext;
  const c = new DaemonsCheck(ctx);
  const measure = async (): Promise<DaemonEntry> => {
    clock.advance(INTERVAL);
    return (await c.measure())[0]!.value as DaemonEntry;
  };
  return { exe, measure };
}

const children: ChildProcess[] = [];
function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(cmd, args, { stdio: 'ignore', env: env ?? process.env });
  children.push(p);
  return p;
}
test.after(() => {
  for (const p of children) p.kill('SIGKILL');
});

function state(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.charAt(s.lastIndexOf(')') + 2);
}

test('a daemon frozen with SIGSTOP runs nothing: down, and up again on SIGCONT', async () => {
  const d = daemon('twd-frozen');
  const p = run(d.exe, ['600']);
  await waitFor(() => existsSync(`/proc/${p.pid}/exe`) && state(p.pid!) === 'S', { what: 'the daemon asleep' });
  assert.equal((await d.measure()).status, 'up');
  p.kill('SIGSTOP');
  await waitFor(() => state(p.pid!) === 'T', { what: 'the daemon stopped' });
  const r = await d.measure();
  assert.equal(r.status, 'down');
  assert.match(String(r.reason), new RegExp(`pid ${p.pid} is not running \\(state T\\)`));
  p.kill('SIGCONT');
  await waitFor(() => state(p.pid!) !== 'T', { what: 'the daemon resumed' });
  assert.equal((await d.measure()).status, 'up');
});

test('a killed daemon left a zombie by its parent is daemon-down at the next interval, never exe-mismatch first', async () => {
  const d = daemon('twd-killed');
  // The shell starts the daemon, then becomes a sleep that never reaps it: its corpse stays a zombie.
  const parent = run('/bin/sh', ['-c', `"$0" 600 & exec ${SLEEP} 600`, d.exe]);
  let pid = 0;
  await waitFor(
    () => {
      const kids = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
      pid =
        kids.find((k) => {
          try {
            return readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'twd-killed';
          } catch {
            return false;
          }
        }) ?? 0;
      return pid > 0 && existsSync(`/proc/${pid}/exe`);
    },
    { what: 'the daemon started' },
  );
  assert.equal((await d.measure()).status, 'up');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => state(pid) === 'Z', { what: 'the daemon a zombie' });
  const r = await d.measure();
  assert.equal(r.status, 'down', `first kind after the kill: ${r.status} (${r.reason})`);
  assert.match(String(r.reason), /zombie/);
});

test('a killed and reaped daemon is daemon-down at the next interval', async () => {
  const d = daemon('twd-reaped');
  const p = run(d.exe, ['600']);
  await waitFor(() => existsSync(`/proc/${p.pid}/exe`), { what: 'the daemon started' });
  assert.equal((await d.measure()).status, 'up');
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  await waitFor(() => !existsSync(`/proc/${p.pid}`), { what: 'the daemon reaped' });
  assert.equal((await d.measure()).status, 'down');
});

test('a daemon running a deleted binary is exe-mismatch naming the file', async () => {
  const d = daemon('twd-deleted');
  const p = run(d.exe, ['600']);
  await waitFor(() => existsSync(`/proc/${p.pid}/exe`), { what: 'the daemon started' });
  unlinkSync(d.exe);
  copyFileSync(SLEEP, d.exe); // the same file back at the path: only the running image is gone
  const r = await d.measure();
  assert.equal(r.status, 'exe-mismatch');
  assert.match(String(r.reason), new RegExp(`runs deleted ${d.exe}`));
});

test('a daemon mapping a library that was deleted, or loaded from outside the library directories, is exe-mismatch naming it', async (t) => {
  if (!LIBM) return t.skip('no libm to preload here');
  const d = daemon('twd-preload');
  const lib = join(tempDir('tw-daemon-lib-'), 'libevil.so');
  copyFileSync(LIBM, lib);
  const p = run(d.exe, ['600'], { ...process.env, LD_PRELOAD: lib });
  await waitFor(() => existsSync(`/proc/${p.pid}/maps`) && readFileSync(`/proc/${p.pid}/maps`, 'utf8').includes(lib), { what: 'the library mapped' });
  const outside = await d.measure();
  assert.equal(outside.status, 'exe-mismatch');
  assert.match(String(outside.reason), new RegExp(`maps ${lib} from outside the library directories`));
  unlinkSync(lib);
  const deleted = await d.measure();
  assert.equal(deleted.status, 'exe-mismatch');
  assert.match(String(deleted.reason), new RegExp(`maps deleted ${lib}`));
});
