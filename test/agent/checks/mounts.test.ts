import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CheckContext } from '../../../agent/checks/check.ts';
import { coversGuarded, MountsCheck, mountTables } from '../../../agent/checks/mounts.ts';
import { AgentConfigSchema } from '../../../agent/config.ts';
import { MountEvents } from '../../../agent/watch/mount-events.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { MountEntry } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
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

test('a cycle reads the mount table only when findmnt is not watching or reported a change; a full scan always reads it', async (t) => {
  const dir = tempDir('tw-mounts-cycle-');
  const mountinfo = join(dir, 'mountinfo');
  const line = (opts: string) => `30 22 8:2 / /mnt/guarded ${opts},relatime shared:20 - ext4 /dev/sdb1 rw\n`;
  writeFileSync(mountinfo, line('ro'));
  // The watcher stands in for findmnt: alive and silent until it prints the line the test gives it.
  const fifo = join(dir, 'events');
  const clock = new FakeClock();
  const cfg = AgentConfigSchema.parse({ server: 'wss://127.0.0.1:1', stateDir: join(dir, 'state'), defaults: false, mounts: [{ path: '/mnt/guarded', expect: 'ro' }] });
  const ctx = { cfg, configPath: join(dir, 'agent.yml'), log: silentLogger(), clock, hasher: null, watch: { primary: null, fast: null } } as unknown as CheckContext;
  writeFileSync(fifo, '');
  const check = new MountsCheck(ctx, [{ mountinfo, command: ['tail', '-n', '+1', '-f', fifo] }]);
  t.after(() => check.close());
  const state = async (why: 'cycle' | 'scan') => ((await check.measure(why))[0]!.value as MountEntry).state;
  const updates: string[] = [];
  let troubles = 0;
  await check.watch({ update: (_k, key) => updates.push(key), get: () => undefined, keys: () => [], trouble: () => troubles++ });
  const pid = () => (check as unknown as { events: { pid?: number }[] }).events[0]!.pid;
  await waitFor(() => (check as unknown as { events: { watchingSince(): number | null }[] }).events[0]!.watchingSince() !== null, { what: 'the watcher running' });
  assert.equal(await state('scan'), 'ro');
  writeFileSync(mountinfo, line('rw'));
  assert.equal(await state('cycle'), 'rw', 'read again: the watcher has not been running long enough to have read the table');
  clock.advance(1000);
  assert.equal(await state('scan'), 'rw');
  writeFileSync(mountinfo, line('ro'));
  assert.equal(await state('cycle'), 'rw', 'the watcher reported nothing: the last read stands');
  assert.equal(await state('scan'), 'ro', 'a full scan reads the table');
  writeFileSync(mountinfo, line('rw'));
  process.kill(pid()!, 'SIGSTOP');
  await waitFor(() => readFileSync(`/proc/${pid()}/stat`, 'latin1').includes(') T '), { what: 'the watcher stopped' });
  assert.equal(await state('cycle'), 'rw', 'a stopped watcher hears nothing: the cycle reads the table');
  process.kill(pid()!, 'SIGCONT');
  await waitFor(() => !readFileSync(`/proc/${pid()}/stat`, 'latin1').includes(') T '), { what: 'the watcher running again' });
  writeFileSync(mountinfo, line('ro'));
  assert.equal(await state('cycle'), 'rw', 'running again, nothing reported: the last read stands');
  appendFileSync(fifo, 'ACTION="remount" TARGET="/mnt/guarded" OLD-TARGET="" OPTIONS="ro,relatime" OLD-OPTIONS="rw,relatime"\n');
  await waitFor(() => troubles > 0, { what: 'the change reported' });
  assert.equal(await state('cycle'), 'ro', 'a reported change makes the next cycle read the table');
  assert.ok(updates.includes('/mnt/guarded'));
});
