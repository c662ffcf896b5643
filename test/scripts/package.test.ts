import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
const tools = ['dpkg', 'dpkg-deb', 'dpkg-shlibdeps'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = tools.length ? `${tools.join(', ')} not installed (apt-get install dpkg-dev)` : false;
if (skip) console.log(`# skipping package tests: ${skip}`);
const lintianSkip = skip || (existsSync('/usr/bin/lintian') ? false : 'lintian not installed');

interface Run {
  status: number | null;
  out: string;
}
function sh(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 300_000, env, maxBuffer: 64 << 20 });
  return { status: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

let out = '';
let arch = '';
before(() => {
  if (skip) return;
  out = mkdtempSync(join(tmpdir(), 'tw-package-'));
  arch = sh('dpkg', ['--print-architecture']).out.trim();
});
after(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** Builds one package into the temp dir (the agent executable is reused when built already). */
function build(which: 'agent' | 'server'): string {
  const r = sh(process.execPath, [join(root, 'scripts', 'package.mjs'), '--only', which, '--reuse-agent', '--out', out]);
  assert.equal(r.status, 0, r.out);
  const deb = join(out, `tripwarden-${which}_${version}_${arch}.deb`);
  assert.ok(existsSync(deb), `${deb} not written:\n${r.out}`);
  return deb;
}

/**
 * A throwaway dpkg root: an empty database and a passwd/group with root only.
 * Maintainer scripts run without chroot, with DPKG_ROOT pointing here, which
 * is the mode Debian uses to bootstrap systems and which ours honour.
 */
function throwawayRoot(): { dir: string; dpkg(...a: string[]): Run } {
  const dir = mkdtempSync(join(out, 'root-'));
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['var/lib/dpkg/status', 'var/lib/dpkg/available']) writeFileSync(join(dir, f), '');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(dir, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  // Dependencies (libc6, ...) are not in the empty root: --force-depends.
  const base = [`--root=${dir}`, '--force-script-chrootless', '--force-not-root', '--force-depends', '--force-confold'];
  return { dir, dpkg: (...a: string[]) => sh('dpkg', [...base, ...a]) };
}

const mode = (p: string): number => statSync(p).mode & 0o7777;
const status = (dir: string, pkg: string): string => {
  const text = readFileSync(join(dir, 'var/lib/dpkg/status'), 'utf8');
  const para = text.split('\n\n').find((p) => p.startsWith(`Package: ${pkg}\n`));
  return /^Status: (.*)$/m.exec(para ?? '')?.[1] ?? 'not-installed';
};

test('the maintainer scripts are clean under shellcheck', { skip: !existsSync('/usr/bin/shellcheck') && 'shellcheck not installed' }, () => {
  const scripts = ['agent', 'server'].flatMap((p) => ['postinst', 'prerm', 'postrm'].map((s) => join(root, 'scripts/debian', p, s)));
  const r = sh('/usr/bin/shellcheck', ['-s', 'sh', ...scripts]);
  assert.equal(r.status, 0, r.out);
});

test('the agent package: contents, install, conffile kept on remove, everything gone on purge', { skip }, () => {
  const deb = build('agent');

  const listing = sh('dpkg-deb', ['--contents', deb]).out;
  for (const [m, path] of [
    ['-rwxr-xr-x', './usr/bin/tripwarden-agent'],
    ['-rw-r--r--', './lib/systemd/system/tripwarden-agent.service'],
    ['-rw-------', './etc/tripwarden/agent.yml'],
    ['-rw-r--r--', './usr/share/doc/tripwarden-agent/copyright'],
  ] as const) {
    assert.match(listing, new RegExp(`^${m.replace(/-/g, '\\-')} root/root .* ${path.replace(/\./g, '\\.')}$`, 'm'), `${path} ${m} root/root:\n${listing}`);
  }
  assert.doesNotMatch(listing, /token|\.crt|\.key/i, 'no enrollment material in the package');
  assert.equal(sh('dpkg-deb', ['--field', deb, 'Package']).out.trim(), 'tripwarden-agent');
  assert.match(sh('dpkg-deb', ['--field', deb, 'Depends']).out, /libc6 \(>= 2\.\d+\)/);
  assert.equal(sh('dpkg-deb', ['--info', deb, 'conffiles']).out, '/etc/tripwarden/agent.yml\n');

  const t = throwawayRoot();
  const installed = t.dpkg('-i', deb);
  assert.equal(installed.status, 0, installed.out);
  assert.match(installed.out, /tripwarden-agent: not enrolled yet; .*tripwarden-agent enroll --server/);
  assert.equal(status(t.dir, 'tripwarden-agent'), 'install ok installed');
  assert.equal(mode(join(t.dir, 'usr/bin/tripwarden-agent')), 0o755);
  assert.equal(mode(join(t.dir, 'etc/tripwarden/agent.yml')), 0o600);
  assert.equal(mode(join(t.dir, 'var/lib/tripwarden-agent')), 0o700, 'state dir made by postinst');
  const unit = readFileSync(join(t.dir, 'lib/systemd/system/tripwarden-agent.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/tripwarden-agent run --config \/etc\/tripwarden\/agent\.yml$/m);
  assert.match(unit, /^StateDirectory=tripwarden-agent$/m);
  const exe = sh(join(t.dir, 'usr/bin/tripwarden-agent'), ['--version']);
  assert.equal(exe.out.trim(), version, 'the packaged executable runs');

  // An operator's config and an enrolled host survive a reinstall and a remove.
  const config = join(t.dir, 'etc/tripwarden/agent.yml');
  writeFileSync(config, 'server: wss://tw.example.net:7443\nstateDir: /var/lib/tripwarden-agent\n');
  writeFileSync(join(t.dir, 'var/lib/tripwarden-agent/agent.crt'), 'CERT');
  const again = t.dpkg('-i', deb);
  assert.equal(again.status, 0, again.out);
  assert.doesNotMatch(again.out, /not enrolled yet/, 'an enrolled host is not told to enroll');
  assert.match(readFileSync(config, 'utf8'), /tw\.example\.net/);

  const removed = t.dpkg('--remove', 'tripwarden-agent');
  assert.equal(removed.status, 0, removed.out);
  assert.equal(status(t.dir, 'tripwarden-agent'), 'deinstall ok config-files');
  assert.equal(existsSync(join(t.dir, 'usr/bin/tripwarden-agent')), false);
  assert.equal(existsSync(join(t.dir, 'lib/systemd/system/tripwarden-agent.service')), false);
  assert.match(readFileSync(config, 'utf8'), /tw\.example\.net/, 'conffile kept until purge');
  assert.equal(existsSync(join(t.dir, 'var/lib/tripwarden-agent/agent.crt')), true, 'state kept until purge');

  const purged = t.dpkg('--purge', 'tripwarden-agent');
  assert.equal(purged.status, 0, purged.out);
  assert.equal(status(t.dir, 'tripwarden-agent'), 'not-installed');
  assert.equal(existsSync(config), false);
  assert.equal(existsSync(join(t.dir, 'etc/tripwarden')), false);
  assert.equal(existsSync(join(t.dir, 'var/lib/tripwarden-agent')), false);
});

test('the agent package is lintian clean (overrides explained in scripts/debian/agent/lintian-overrides)', { skip: lintianSkip }, () => {
  const deb = join(out, `tripwarden-agent_${version}_${arch}.deb`);
  const r = sh('lintian', ['--fail-on', 'error,warning', existsSync(deb) ? deb : build('agent')]);
  const findings = r.out.split('\n').filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(findings, [], r.out);
  assert.equal(r.status, 0, r.out);
});

test('the server package: its own runtime runs the CLI, postinst makes the user and a 0700 data dir, purge keeps the data', { skip }, () => {
  const deb = build('server');
  const listing = sh('dpkg-deb', ['--contents', deb]).out;
  for (const path of [
    './usr/bin/tripwarden',
    './usr/lib/tripwarden-server/node',
    './usr/lib/tripwarden-server/dist/server/main.js',
    './lib/systemd/system/tripwarden-server.service',
  ]) {
    assert.match(listing, new RegExp(` root/root .* ${path.replace(/\./g, '\\.')}$`, 'm'), `${path} missing:\n${listing}`);
  }
  assert.match(sh('dpkg-deb', ['--field', deb, 'Depends']).out, /libc6 .*passwd/);

  const t = throwawayRoot();
  const installed = t.dpkg('-i', deb);
  assert.equal(installed.status, 0, installed.out);
  assert.match(installed.out, /tripwarden-server: not initialised yet; run 'runuser -u tripwarden -- tripwarden init --dir \/var\/lib\/tripwarden-server'/);
  const user = readFileSync(join(t.dir, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('tripwarden:'));
  assert.ok(user, 'postinst created the user in the target root');
  const [, , uid, gid, , home, shell] = user.split(':');
  assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid: ${uid}`);
  assert.deepEqual([home, shell], ['/var/lib/tripwarden-server', '/usr/sbin/nologin']);
  assert.match(readFileSync(join(t.dir, 'etc/group'), 'utf8'), new RegExp(`^tripwarden:x:${gid}:`, 'm'));
  const data = join(t.dir, 'var/lib/tripwarden-server');
  assert.equal(mode(data), 0o700);
  assert.deepEqual([statSync(data).uid, statSync(data).gid], [Number(uid), Number(gid)]);

  const unit = readFileSync(join(t.dir, 'lib/systemd/system/tripwarden-server.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/lib\/tripwarden-server\/node --jitless \/usr\/lib\/tripwarden-server\/dist\/server\/main\.js serve --dir \/var\/lib\/tripwarden-server$/m);
  assert.match(unit, /^User=tripwarden$/m);
  assert.doesNotMatch(unit, /\/opt\/tripwarden|tsx/);
  assert.equal(readFileSync(join(t.dir, 'usr/bin/tripwarden'), 'utf8').split('\n').at(-2), 'exec /usr/lib/tripwarden-server/node /usr/lib/tripwarden-server/bin/tripwarden "$@"');

  // The installed tree works on its own runtime: init a data dir and list its hosts.
  const lib = join(t.dir, 'usr/lib/tripwarden-server');
  const cli = (...a: string[]): Run => sh(join(lib, 'node'), [join(lib, 'bin/tripwarden'), ...a], { PATH: '/usr/bin:/bin' });
  const scratch = join(t.dir, 'tmp-data');
  const init = cli('init', '--dir', scratch);
  assert.equal(init.status, 0, init.out);
  assert.match(init.out, /ca-sha256: [0-9a-f:]+/i);
  const hosts = cli('hosts', '--json', '--dir', scratch);
  assert.equal(hosts.status, 0, hosts.out);
  assert.deepEqual(JSON.parse(hosts.out), []);

  // Upgrade in place (same version again): the user is not made twice.
  const again = t.dpkg('-i', deb);
  assert.equal(again.status, 0, again.out);
  assert.equal(readFileSync(join(t.dir, 'etc/passwd'), 'utf8').match(/^tripwarden:/gm)?.length, 1);

  writeFileSync(join(data, 'server.yml'), 'listen: 0.0.0.0:7443\n');
  assert.equal(t.dpkg('--remove', 'tripwarden-server').status, 0);
  assert.equal(existsSync(join(t.dir, 'usr/bin/tripwarden')), false);
  assert.equal(existsSync(lib), false);
  const purged = t.dpkg('--purge', 'tripwarden-server');
  assert.equal(purged.status, 0, purged.out);
  assert.match(purged.out, /kept \/var\/lib\/tripwarden-server/);
  assert.equal(status(t.dir, 'tripwarden-server'), 'not-installed');
  assert.equal(existsSync(join(data, 'server.yml')), true, 'the CA and database outlive a purge');
});

test('the server package is lintian clean (overrides explained in scripts/debian/server/lintian-overrides)', { skip: lintianSkip }, () => {
  const deb = join(out, `tripwarden-server_${version}_${arch}.deb`);
  const r = sh('lintian', ['--fail-on', 'error,warning', existsSync(deb) ? deb : build('server')]);
  const findings = r.out.split('\n').filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(findings, [], r.out);
  assert.equal(r.status, 0, r.out);
});
