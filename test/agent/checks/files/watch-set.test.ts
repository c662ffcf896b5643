import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseElf } from '../../../../agent/checks/files/elf-deps.ts';
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

/** Lays out `files` (path: content, or `-> target` for a symlink; a trailing `/` makes a directory) under `root`. */
function layOut(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(rel.endsWith('/') ? p : dirname(p), { recursive: true });
    if (rel.endsWith('/')) continue;
    if (content.startsWith('-> ')) symlinkSync(content.slice(3), p);
    else writeFileSync(p, content);
  }
}

test('the built-in set guards the loader, PAM/NSS, cron, the units that start the checker, and every symlink on the way', () => {
  const r = tempDir('tw-ws-root-');
  layOut(r, {
    lib: '-> usr/lib',
    lib64: '-> usr/lib64',
    'usr/lib64/ld-linux-x86-64.so.2': '-> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': 'loader',
    'usr/lib/x86_64-linux-gnu/security/pam_unix.so': 'module',
    'usr/lib/x86_64-linux-gnu/libnss_files.so.2': 'nss',
    'usr/lib/x86_64-linux-gnu/libnss_files.so': '-> libnss_files.so.2',
    'etc/ld.so.preload': '/tmp/evil.so\n',
    'etc/ld.so.conf': 'include /etc/ld.so.conf.d/*.conf\n',
    'etc/ld.so.conf.d/': '',
    'etc/ld.so.cache': 'cache',
    'etc/pam.d/cron': 'session required pam_unix.so\n',
    'etc/nsswitch.conf': 'passwd: files\n',
    'etc/crontab': '',
    'etc/cron.daily/aide': '',
    'var/spool/cron/crontabs/root': '',
    'usr/lib/systemd/system/cron.service': '[Service]\n',
    'usr/lib/systemd/system/dailyaidecheck.timer': '[Timer]\n',
    'etc/systemd/system/cron.service.d/override.conf': '[Service]\n',
    'etc/systemd/system/timers.target.wants/dailyaidecheck.timer': '-> /lib/systemd/system/dailyaidecheck.timer',
    'etc/systemd/system/exim4.service': '-> /dev/null',
    'etc/alternatives/aide': '-> /usr/lib/aide/aide.real',
    'usr/bin/aide': '-> /etc/alternatives/aide',
    'etc/aide/aide.conf': '',
    'var/lib/aide/aide.db': '',
  });
  // A real ELF for the checker, so its PT_INTERP is read.
  mkdirSync(join(r, 'usr/lib/aide'));
  copyFileSync('/usr/bin/true', join(r, 'usr/lib/aide/aide.real'));
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: join(r, 'state') });
  const set = buildWatchSet(cfg, join(r, 'agent.yml'), { self: '/bin/true', root: r });
  const got = (p: string) => {
    const t = set.find((x) => x.path === join(r, p));
    return t ? `${t.class}${t.dir ? (t.recursive ? ' dir+' : ' dir') : ''}` : undefined;
  };
  const expected: Record<string, string> = {
    'etc/ld.so.preload': 'critical',
    'etc/ld.so.conf': 'critical',
    'etc/ld.so.conf.d': 'critical dir',
    'etc/ld.so.cache': 'critical',
    'etc/pam.d': 'normal dir',
    'etc/nsswitch.conf': 'normal',
    'usr/lib/x86_64-linux-gnu/security': 'critical dir',
    lib: 'critical',
    'usr/lib/x86_64-linux-gnu/libnss_files.so.2': 'critical',
    'usr/lib/x86_64-linux-gnu/libnss_files.so': 'critical',
    'etc/crontab': 'critical',
    'etc/cron.daily': 'critical dir+',
    'var/spool/cron/crontabs': 'critical dir+',
    'etc/aide': 'critical dir+',
    'var/lib/aide': 'critical dir+',
    'usr/lib/systemd/system/cron.service': 'normal',
    'usr/lib/systemd/system/dailyaidecheck.timer': 'normal',
    'etc/systemd/system/cron.service.d': 'normal dir',
    'etc/systemd/system/timers.target.wants': 'normal dir',
    'etc/systemd/system/exim4.service': 'normal',
    // Absent from the admin's unit dir: an override or a mask appearing there is the attack.
    'etc/systemd/system/dailyaidecheck.timer': 'normal',
    'etc/systemd/system/dailyaidecheck.timer.d': 'normal dir',
    'usr/bin/aide': 'critical',
    'etc/alternatives/aide': 'critical',
    'usr/lib/aide/aide.real': 'critical',
  };
  if (parseElf('/usr/bin/true')?.interp === '/lib64/ld-linux-x86-64.so.2') {
    Object.assign(expected, {
      lib64: 'critical',
      'usr/lib64/ld-linux-x86-64.so.2': 'critical',
      'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': 'critical',
    });
  }
  const actual = Object.fromEntries(Object.keys(expected).map((p) => [p, got(p)]));
  assert.deepEqual(actual, expected);
  // Paths seen through a link are guarded once, by their real path.
  assert.equal(got('lib/x86_64-linux-gnu/security'), undefined);
  assert.equal(got('etc/pam.conf'), undefined, 'an absent file that is no sentinel is skipped');
  assert.equal(got('lib/systemd/system/cron.service.d'), undefined);
});

test('an absent ld.so.preload is guarded for its appearance, and so is nothing else absent outside the sentinels', () => {
  const r = tempDir('tw-ws-root-');
  layOut(r, { 'etc/crontab': '' });
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: join(r, 'state') });
  const set = buildWatchSet(cfg, join(r, 'agent.yml'), { self: '/bin/true', root: r });
  const under = set.filter((t) => t.path.startsWith(`${r}/`)).map((t) => `${t.path.slice(r.length)} ${t.class}`);
  assert.deepEqual(under.sort(), [
    '/agent.yml self',
    '/etc/crontab critical',
    '/etc/ld.so.preload critical',
    '/state/agent.crt self',
    '/state/agent.key self',
    '/state/ca.crt self',
  ]);
});

test('on this host the built-in set holds the loader configuration, NSS and PAM that exist here', () => {
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: '/nonexistent' });
  const set = buildWatchSet(cfg, '/nonexistent/agent.yml', { self: '/bin/true' });
  const cls = (p: string) => set.find((t) => t.path === p)?.class;
  assert.equal(cls('/etc/ld.so.preload'), 'critical');
  for (const [p, c] of [
    ['/etc/ld.so.cache', 'critical'],
    ['/etc/ld.so.conf', 'critical'],
    ['/etc/nsswitch.conf', 'normal'],
    ['/etc/pam.d', 'normal'],
  ] as const) {
    if (existsSync(p)) assert.equal(cls(p), c, p);
  }
  if (existsSync('/lib64/ld-linux-x86-64.so.2')) assert.equal(cls('/lib64/ld-linux-x86-64.so.2') ?? cls('/usr/lib64/ld-linux-x86-64.so.2'), 'critical');
});
