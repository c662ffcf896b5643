import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT as root } from '../helpers/cluster.ts';
import { buildPackage, debSkip, dpkgStatus, lintian, lintianFindings, lintianSkip, mode, type Run, sh, throwawayRoot, version } from '../helpers/deb.ts';

// The agent's Debian package: built, linted in the background, installed into a throwaway root. Split from the other package's file so each stays well inside the suite's per-file timeout.
if (debSkip) console.log(`# skipping package tests: ${debSkip}`);
let out = '';
let linted: Promise<Run> | undefined;
before(() => {
  out = mkdtempSync(join(tmpdir(), 'tw-package-'));
});
after(async () => {
  await linted;
  rmSync(out, { recursive: true, force: true });
});

test('the maintainer scripts are clean under shellcheck', { skip: !existsSync('/usr/bin/shellcheck') && 'shellcheck not installed' }, () => {
  const scripts = ['agent', 'server'].flatMap((p) => ['postinst', 'prerm', 'postrm'].map((s) => join(root, 'scripts/debian', p, s)));
  const r = sh('/usr/bin/shellcheck', ['-s', 'sh', ...scripts]);
  assert.equal(r.status, 0, r.out);
});

test('the agent package: contents, install, conffile kept on remove, everything gone on purge', { skip: debSkip }, () => {
  const deb = buildPackage('agent', out);
  linted = lintian(deb);

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

  const t = throwawayRoot(out);
  const installed = t.dpkg('-i', deb);
  assert.equal(installed.status, 0, installed.out);
  assert.match(installed.out, /tripwarden-agent: not enrolled yet; .*tripwarden-agent enroll --server/);
  assert.equal(dpkgStatus(t.dir, 'tripwarden-agent'), 'install ok installed');
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
  assert.equal(dpkgStatus(t.dir, 'tripwarden-agent'), 'deinstall ok config-files');
  assert.equal(existsSync(join(t.dir, 'usr/bin/tripwarden-agent')), false);
  assert.equal(existsSync(join(t.dir, 'lib/systemd/system/tripwarden-agent.service')), false);
  assert.match(readFileSync(config, 'utf8'), /tw\.example\.net/, 'conffile kept until purge');
  assert.equal(existsSync(join(t.dir, 'var/lib/tripwarden-agent/agent.crt')), true, 'state kept until purge');

  const purged = t.dpkg('--purge', 'tripwarden-agent');
  assert.equal(purged.status, 0, purged.out);
  assert.equal(dpkgStatus(t.dir, 'tripwarden-agent'), 'not-installed');
  assert.equal(existsSync(config), false);
  assert.equal(existsSync(join(t.dir, 'etc/tripwarden')), false);
  assert.equal(existsSync(join(t.dir, 'var/lib/tripwarden-agent')), false);
});

test('the agent package is lintian clean (overrides explained in scripts/debian/agent/lintian-overrides)', { skip: lintianSkip }, async () => {
  assert.ok(linted, 'the package was built');
  const r = await linted;
  assert.deepEqual(lintianFindings(r), [], r.out);
  assert.equal(r.status, 0, r.out);
});
