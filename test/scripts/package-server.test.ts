import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildPackage, debSkip, dpkgStatus, lintian, lintianFindings, lintianSkip, mode, type Run, sh, throwawayRoot } from '../helpers/deb.ts';

// The server's Debian package: built, linted in the background, installed into a throwaway root. Split from the other package's file so each stays well inside the suite's per-file timeout.
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

test('the server package: its own runtime runs the CLI, postinst makes the user and a 0700 data dir, purge keeps the data', { skip: debSkip }, () => {
  const deb = buildPackage('server', out);
  linted = lintian(deb);
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

  const t = throwawayRoot(out);
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
  assert.equal(dpkgStatus(t.dir, 'tripwarden-server'), 'not-installed');
  assert.equal(existsSync(join(data, 'server.yml')), true, 'the CA and database outlive a purge');
});

test('the server package is lintian clean (overrides explained in scripts/debian/server/lintian-overrides)', { skip: lintianSkip }, async () => {
  assert.ok(linted, 'the package was built');
  const r = await linted;
  assert.deepEqual(lintianFindings(r), [], r.out);
  assert.equal(r.status, 0, r.out);
});
