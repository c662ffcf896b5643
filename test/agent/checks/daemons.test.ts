import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CheckContext } from '../../../agent/checks/check.ts';
import { DAEMON_WALK_MS, DaemonsCheck, listProcesses, readProcessId } from '../../../agent/checks/daemons.ts';
import type { DaemonEntry } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';

/**
 * A fake /proc: `<proc>/<pid>/comm`, `stat` as the kernel prints it (comm in
 * parentheses, start time in field 22) and `<proc>/<pid>/exe` a symlink to the
 * binary, so `readlink` and the image hash behave as for a real process.
 */
function fakeProc() {
  const root = tempDir('tw-daemons-');
  const proc = join(root, 'proc');
  mkdirSync(proc);
  const bin = (name: string, content: string) => {
    const p = join(root, name);
    writeFileSync(p, content);
    return p;
  };
  const start = (pid: number, comm: string, exe: string, startTicks: number) => {
    rmSync(join(proc, String(pid)), { recursive: true, force: true });
    mkdirSync(join(proc, String(pid)));
    const fields = ['S', '1', String(pid), String(pid), '0', '-1', '4194560', ...Array(12).fill('0'), String(startTicks), '0'];
    writeFileSync(join(proc, String(pid), 'stat'), `${pid} (${comm}) ${fields.join(' ')}\n`);
    writeFileSync(join(proc, String(pid), 'comm'), `${comm}\n`);
    symlinkSync(exe, join(proc, String(pid), 'exe'));
  };
  const exit = (pid: number) => rmSync(join(proc, String(pid)), { recursive: true, force: true });
  return { root, proc, bin, start, exit };
}

function check(f: ReturnType<typeof fakeProc>, exe: string, clock: FakeClock) {
  const ctx = { cfg: { daemons: [{ name: 'cron', exe }], defaults: false }, clock } as unknown as CheckContext;
  const c = new DaemonsCheck(ctx, f.proc);
  return async (): Promise<DaemonEntry> => (await c.measure())[0]!.value as DaemonEntry;
}

test('/proc/PID/stat: comm with spaces and parentheses, start time from field 22', () => {
  const f = fakeProc();
  f.start(42, 'a (b) c', '/bin/true', 777);
  assert.deepEqual(readProcessId(42, f.proc), { pid: 42, comm: 'a (b) c', start: '777' });
  assert.equal(readProcessId(43, f.proc), null, 'gone');
  assert.deepEqual(listProcesses(f.proc), [{ pid: 42, comm: 'a (b) c' }]);
  assert.ok(
    listProcesses().some((p) => p.pid === process.pid),
    'the real /proc walks',
  );
  const self = readProcessId(process.pid);
  assert.ok(self && /^\d+$/.test(self.start), 'the real /proc parses');
});

test('daemons: cron replaced by another binary and restarted under a new pid is caught at the next cycle', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  const evil = f.bin('evil', 'not cron');
  f.start(100, 'cron', cron, 5000);
  const measure = check(f, cron, clock);
  assert.equal((await measure()).status, 'up');
  clock.advance(10_000);
  const kept = await measure();
  assert.deepEqual(kept, { name: 'cron', exe: cron, pids: [100], status: 'up', found: [cron], sha256: kept.sha256 }, 'kept pid still there');
  assert.match(String(kept.sha256), /^[0-9a-f]{64}$/, "an up daemon carries its binary's hash");

  f.exit(100);
  f.start(200, 'cron', evil, 9000);
  clock.advance(10_000);
  const after = await measure();
  assert.equal(after.status, 'exe-mismatch');
  assert.deepEqual(after.pids, [200], 'the kept pid vanished: /proc is walked again at once');
});

test('daemons: a kept pid reused by another process (other start time) makes the check walk /proc again', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  f.start(100, 'cron', cron, 5000);
  const measure = check(f, cron, clock);
  assert.deepEqual((await measure()).pids, [100]);

  // cron exited, pid 100 went to an unrelated process with the same name and image,
  // and the real cron came back as pid 300: only a new walk finds 300.
  f.start(100, 'cron', cron, 8000);
  f.start(300, 'cron', cron, 8100);
  clock.advance(10_000);
  assert.deepEqual((await measure()).pids, [100, 300]);

  // Reused by a process of another name: cron is gone from that pid.
  f.exit(300);
  f.start(100, 'bash', '/bin/bash', 9000);
  clock.advance(10_000);
  assert.equal((await measure()).status, 'down');
});

test('daemons: a process that exec()s another binary under the kept pid is judged on its new image', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  const evil = f.bin('evil', 'not cron');
  f.start(100, 'cron', cron, 5000);
  const measure = check(f, cron, clock);
  assert.equal((await measure()).status, 'up');
  // Same pid, same start time, same name (set by the intruder), another image.
  rmSync(join(f.proc, '100', 'exe'));
  symlinkSync(evil, join(f.proc, '100', 'exe'));
  clock.advance(10_000);
  const r = await measure();
  assert.equal(r.status, 'exe-mismatch');
  assert.deepEqual(r.found, [evil]);
});

test('daemons: a down daemon is looked for every cycle; a second process of the name is found by the periodic walk', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  const measure = check(f, cron, clock);
  assert.equal((await measure()).status, 'down');
  f.start(100, 'cron', cron, 5000);
  clock.advance(10_000);
  assert.deepEqual((await measure()).pids, [100], 'came back: seen at the next cycle');

  f.start(101, 'cron', f.bin('other', 'x'), 5100);
  clock.advance(DAEMON_WALK_MS);
  const r = await measure();
  assert.deepEqual(r.pids, [100, 101]);
  assert.equal(r.status, 'exe-mismatch');
});

test('daemons: while one is down, a walk reads only new pids; one that takes the name under an old pid is found by the full walk', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  f.start(50, 'bash', f.bin('bash', 'a shell'), 4000);
  const measure = check(f, cron, clock);
  assert.equal((await measure()).status, 'down');
  // `exec cron` from the shell: same pid, new name and image.
  f.start(50, 'cron', cron, 4000);
  clock.advance(10_000);
  assert.equal((await measure()).status, 'down', 'an old pid is not read again between full walks');
  clock.advance(DAEMON_WALK_MS);
  const r = await measure();
  assert.deepEqual([r.status, r.pids], ['up', [50]], 'found by the full walk');
});

test('daemons: while one is down, /proc is walked again only once the kernel has handed out a new pid (/proc/loadavg)', async () => {
  const f = fakeProc();
  const clock = new FakeClock();
  const cron = f.bin('cron', 'real cron');
  writeFileSync(join(f.proc, 'loadavg'), '0.00 0.01 0.05 1/90 4000\n');
  const measure = check(f, cron, clock);
  assert.equal((await measure()).status, 'down');
  // A pid directory appearing while the last pid stands still cannot be a new process: no walk looks for it.
  f.start(4001, 'cron', cron, 9000);
  clock.advance(10_000);
  assert.equal((await measure()).status, 'down', 'no pid handed out since the last walk: /proc is not walked');
  writeFileSync(join(f.proc, 'loadavg'), '0.00 0.01 0.05 2/91 4001\n');
  clock.advance(10_000);
  const back = await measure();
  assert.equal(back.status, 'up', 'a new pid: the walk finds the daemon back at once');
  assert.deepEqual(back.pids, [4001]);
});
