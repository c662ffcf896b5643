import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KILL_GRACE_MS, runProcess } from '../../../agent/checker/run-process.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Pids whose command line is exactly `sleep SECS`. */
function sleeps(secs: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${secs}\0`) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

test('a program gets an empty environment and / as its directory; its output arrives per stream', async () => {
  process.env.TW_SHOULD_NOT_LEAK = 'x';
  const got: Record<string, string> = {};
  const r = await runProcess({
    file: '/bin/sh',
    args: ['-c', 'env; pwd; echo err >&2; echo three >&3'],
    clock: new FakeClock(),
    timeoutMs: 60_000,
    ionice: null,
    extraFds: 1,
    onData: (s, t) => void (got[s] = (got[s] ?? '') + t),
  });
  delete process.env.TW_SHOULD_NOT_LEAK;
  assert.equal(r.code, 0);
  assert.doesNotMatch(got.stdout ?? '', /TW_SHOULD_NOT_LEAK/);
  assert.match(got.stdout ?? '', /^PATH=\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  assert.match(got.stdout ?? '', /^\/$/m);
  assert.equal(got.stderr, 'err\n');
  assert.equal(got.fd3, 'three\n');
});

test('a program that cannot start ends with spawnError, not a throw', async () => {
  const r = await runProcess({ file: '/nonexistent/aide', args: [], clock: new FakeClock(), timeoutMs: 60_000, ionice: null });
  assert.equal(r.code, null);
  assert.match(r.spawnError ?? '', /ENOENT/);
});

test('after the kill, a pipe held by a process outside the group does not keep the run waiting past the grace', async () => {
  const secs = String(5000 + Math.floor(Math.random() * 100_000));
  const clock = new FakeClock();
  // The setsid'd sleep leaves the process group and keeps stdout open.
  const p = runProcess({ file: '/bin/sh', args: ['-c', `setsid sleep ${secs} & exec sleep 3600`], clock, timeoutMs: 1_000, ionice: null });
  try {
    await waitFor(() => sleeps(secs).length > 0, { what: 'the escaped sleep' });
    let done = false;
    void p.then(() => (done = true));
    clock.advance(1_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(done, false, 'waiting for the pipes within the grace');
    clock.advance(KILL_GRACE_MS);
    const r = await p;
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
  } finally {
    for (const pid of sleeps(secs)) process.kill(pid, 'SIGKILL');
  }
});
