/**
 * The mount watcher against a real `findmnt --poll` in a private mount
 * namespace of its own (as root): mounts made there with nsenter never touch
 * the machine's mount table.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FINDMNT_POLL, type MountEvent, MountEvents, parseFindmntLine } from '../../../agent/watch/mount-events.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { findmntPolling } from '../../helpers/findmnt-ready.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'findmnt', '--version'], { encoding: 'utf8' });
const skip = probe.status === 0 ? '' : `no private mount namespace with findmnt here (${(probe.stderr || probe.error?.message || 'unshare failed').trim()})`;

test('a findmnt -P line: hostile paths (space, quote, newline) arrive whole; garbage is refused', () => {
  const ev = parseFindmntLine('ACTION="move" TARGET="/tmp/a b\\x22\\x0ac\\x5c" OLD-TARGET="/tmp/x" OPTIONS="ro,relatime" OLD-OPTIONS=""');
  assert.deepEqual(ev, { action: 'move', target: '/tmp/a b"\nc\\', oldTarget: '/tmp/x', options: ['ro', 'relatime'], oldOptions: [] });
  assert.equal(parseFindmntLine('ACTION="mount" TARGET="/usr/bin/\\xc3\\xa9" OPTIONS="rw" OLD-OPTIONS=""')?.target, '/usr/bin/é');
  assert.equal(parseFindmntLine('ACTION="mount" TARGET="relative" OPTIONS="rw"'), null);
  assert.equal(parseFindmntLine('ACTION="mount" TARG'), null);
  assert.equal(parseFindmntLine(''), null);
});

/** A watcher whose findmnt runs in a private namespace; `sh` runs a script in that namespace. */
function watcher(clock: FakeClock) {
  const events: MountEvent[] = [];
  const trouble: string[] = [];
  const w = new MountEvents({
    clock,
    log: silentLogger(),
    onEvent: (e) => events.push(e),
    onTrouble: (m) => trouble.push(m),
    command: ['unshare', '--mount', '--propagation', 'private', ...FINDMNT_POLL],
    minBackoffMs: 1000,
  });
  const sh = (script: string, ...args: string[]) => execFileSync('nsenter', ['-t', String(w.pid), '-m', 'sh', '-c', script, 'sh', ...args]);
  return { w, events, trouble, sh };
}

test('a bind mount over a file made and undone at once, and ro -> rw -> ro at once: every change is an event', async (t) => {
  if (skip) return t.skip(skip);
  const { w, events, sh } = watcher(new FakeClock());
  t.after(() => w.stop());
  w.start();
  await waitFor(() => w.pid && existsSync(`/proc/${w.pid}/ns/mnt`) && readComm(w.pid) === 'findmnt', { what: 'findmnt running' });
  const dir = tempDir('tw-mnt-ev-');
  const guarded = join(dir, 'guarded\nfile');
  writeFileSync(guarded, 'real');
  writeFileSync(join(dir, 'evil'), 'evil');
  mkdirSync(join(dir, 'ro'));
  await findmntPolling(w.pid!);
  sh('mount --bind "$1" "$2" && umount "$2"', join(dir, 'evil'), guarded);
  sh('mount -t tmpfs -o ro,size=64k tw "$1" && mount -o remount,rw "$1" && mount -o remount,ro "$1"', join(dir, 'ro'));
  await waitFor(() => events.length >= 5, { what: `5 events (have ${events.length})` });
  assert.deepEqual(
    events.map((e) => [e.action, e.target]),
    [
      ['mount', guarded],
      ['umount', guarded],
      ['mount', join(dir, 'ro')],
      ['remount', join(dir, 'ro')],
      ['remount', join(dir, 'ro')],
    ],
  );
  assert.deepEqual([events[3]!.oldOptions[0], events[3]!.options[0], events[4]!.options[0]], ['ro', 'rw', 'ro']);
});

function readComm(pid: number): string {
  try {
    return execFileSync('cat', [`/proc/${pid}/comm`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

test('findmnt killed: reported as trouble, restarted after the backoff, and watching again', async (t) => {
  if (skip) return t.skip(skip);
  const clock = new FakeClock();
  const { w, events, trouble, sh } = watcher(clock);
  t.after(() => w.stop());
  w.start();
  await waitFor(() => w.pid && readComm(w.pid) === 'findmnt', { what: 'findmnt running' });
  const first = w.pid!;
  process.kill(first, 'SIGKILL');
  await waitFor(() => trouble.length === 1, { what: 'the death reported' });
  assert.match(trouble[0]!, /findmnt --poll\) exited \(SIGKILL\); restarting in 1000 ms/);
  assert.equal(w.pid, undefined, 'not restarted before the backoff');
  clock.advance(1000);
  await waitFor(() => w.pid && w.pid !== first && readComm(w.pid) === 'findmnt', { what: 'findmnt restarted' });
  await findmntPolling(w.pid!);
  const dir = tempDir('tw-mnt-ev-');
  sh('mount -t tmpfs -o size=64k tw "$1"', dir);
  await waitFor(() => events.some((e) => e.action === 'mount' && e.target === dir), { what: 'an event from the new findmnt' });

  // Dying again at once doubles the delay.
  process.kill(w.pid!, 'SIGKILL');
  await waitFor(() => trouble.length === 2, { what: 'the second death reported' });
  assert.match(trouble[1]!, /restarting in 2000 ms/);
});
