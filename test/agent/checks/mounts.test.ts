import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coversGuarded, mountTables } from '../../../agent/checks/mounts.ts';
import { MountEvents } from '../../../agent/watch/mount-events.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { waitFor } from '../../helpers/wait.ts';

test('a mount covers a guarded path at it, above it, or inside a guarded directory (any depth when recursive)', () => {
  const file = { path: '/usr/sbin/cron', dir: false, recursive: false };
  const dir = { path: '/etc/cron.d', dir: true, recursive: false };
  const tree = { path: '/usr/bin', dir: true, recursive: true };
  assert.ok(coversGuarded('/usr/sbin/cron', file), 'a bind mount onto the file');
  assert.ok(coversGuarded('/usr/sbin', file), 'a mount over its directory');
  assert.ok(coversGuarded('/', file));
  assert.ok(!coversGuarded('/usr/sbin/cro', file), 'a prefix of the name is not a parent');
  assert.ok(!coversGuarded('/usr/sbin/cron2', file));
  assert.ok(coversGuarded('/etc/cron.d/job', dir), 'a direct entry of a guarded directory');
  assert.ok(!coversGuarded('/etc/cron.d/sub/job', dir), 'deeper than a non-recursive directory reaches');
  assert.ok(coversGuarded('/usr/bin/x/y/z', tree));
  assert.ok(!coversGuarded('/srv/data', tree));
});

test("the mount tables: the agent's own always; init's only when it is another namespace", () => {
  const t = mountTables();
  assert.equal(t[0]!.mountinfo, '/proc/self/mountinfo');
  assert.ok(t.length === 1 || (t.length === 2 && t[1]!.mountinfo === '/proc/1/mountinfo' && t[1]!.command.join(' ').endsWith('--task 1')));
});

test('no findmnt on the host: trouble reported, retried with backoff, nothing thrown', async () => {
  const clock = new FakeClock();
  const trouble: string[] = [];
  const w = new MountEvents({
    clock,
    log: silentLogger(),
    onEvent: () => undefined,
    onTrouble: (m) => trouble.push(m),
    command: ['/nonexistent/findmnt'],
    minBackoffMs: 100,
    maxBackoffMs: 400,
  });
  w.start();
  await waitFor(() => trouble.length === 1, { what: 'the failure reported' });
  assert.match(trouble[0]!, /failed: spawn \/nonexistent\/findmnt ENOENT; restarting in 100 ms/);
  for (const ms of [100, 200, 400]) {
    clock.advance(ms);
    await waitFor(() => trouble.length === 2 + [100, 200, 400].indexOf(ms), { what: `retry after ${ms} ms` });
  }
  assert.match(trouble.at(-1)!, /restarting in 400 ms/, 'the delay stops growing at the maximum');
  w.stop();
  clock.advance(1000);
  assert.equal(trouble.length, 4, 'no retry after stop');
});
