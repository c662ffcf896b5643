import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildWatchSet, WatchIndex } from '../../../../agent/checks/files/watch-set.ts';
import { AgentConfigSchema } from '../../../../agent/config.ts';
import { tempDir } from '../../../helpers/temp.ts';

test("the watch set holds the agent's own files as self, config entries with their class, and skips nothing present", () => {
  const d = tempDir('tw-ws-');
  mkdirSync(join(d, 'state'));
  for (const f of ['agent.key', 'agent.crt', 'ca.crt']) writeFileSync(join(d, 'state', f), 'x');
  mkdirSync(join(d, 'units'));
  writeFileSync(join(d, 'units', 'tripwarden-agent.service'), '[Service]\n');
  writeFileSync(join(d, 'units', 'other.service'), '[Service]\n');
  mkdirSync(join(d, 'w'));
  const cfg = AgentConfigSchema.parse({
    server: 'wss://x:1',
    stateDir: join(d, 'state'),
    defaults: false,
    watch: [{ path: join(d, 'w'), recursive: true, critical: true }, { path: join(d, 'absent') }],
  });
  const set = buildWatchSet(cfg, join(d, 'agent.yml'), { self: '/bin/true', systemdDir: join(d, 'units') });
  const cls = Object.fromEntries(set.map((t) => [t.path, t.class]));
  assert.equal(cls[join(d, 'state', 'agent.key')], 'self');
  assert.equal(cls[join(d, 'agent.yml')], 'self');
  assert.equal(cls[join(d, 'units', 'tripwarden-agent.service')], 'self');
  assert.equal(cls[join(d, 'units', 'other.service')], undefined);
  assert.equal(cls['/bin/true'], 'self');
  assert.equal(cls[join(d, 'w')], 'critical');
  assert.equal(cls[join(d, 'absent')], 'normal', 'an absent watch entry is kept: its appearance is a finding');
});

test('the built-in set takes guarded binaries as critical with their shared libraries', () => {
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: '/nonexistent' });
  const set = buildWatchSet(cfg, '/nonexistent/agent.yml', { self: '/bin/true' });
  const cron = set.find((t) => t.path === '/usr/sbin/cron');
  if (!cron) return; // cron not installed here
  assert.equal(cron.class, 'critical');
  assert.ok(
    set.some((t) => /\/libc\.so\.6$/.test(t.path) && t.class === 'critical'),
    'libc guarded as cron loads it',
  );
  assert.ok(
    set.some((t) => t.path === '/etc/crontab' && t.class === 'critical'),
    'cron persistence is critical',
  );
});

test('the index classes direct entries of a directory, every depth only when recursive', () => {
  const idx = new WatchIndex([
    { path: '/etc/cron.d', dir: true, recursive: false, class: 'normal' },
    { path: '/opt/tw', dir: true, recursive: true, class: 'critical' },
    { path: '/usr/sbin/cron', dir: false, recursive: false, class: 'critical' },
  ]);
  assert.equal(idx.classOf('/etc/cron.d/job'), 'normal');
  assert.equal(idx.classOf('/etc/cron.d/sub/job'), null);
  assert.equal(idx.classOf('/opt/tw/a/b/c'), 'critical');
  assert.equal(idx.classOf('/usr/sbin/cron'), 'critical');
  assert.equal(idx.classOf('/usr/sbin/crond'), null);
  assert.deepEqual(
    idx
      .watchDirs()
      .map((w) => w.dir)
      .sort(),
    ['/etc', '/etc/cron.d', '/opt', '/opt/tw', '/usr/sbin'],
  );
});
