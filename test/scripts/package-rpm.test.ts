import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../helpers/cluster.ts';
import { buildPackage, debSkip, mode, version } from '../helpers/deb.ts';

// The agent's RPM, built by `npm run package` beside its .deb (the built agent is reused), then installed and erased
// in throwaway rpm roots: once without scriptlets, once with them and no systemd, once with a recording systemctl.
const has = (t: string): boolean => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
const skip: string | false =
  debSkip ||
  (!has('rpmbuild') && 'rpmbuild not installed (apt-get install rpm)') ||
  // rpm --root chroots into the root to run scriptlets and gives files to root: both need root.
  (process.getuid?.() !== 0 && 'rpm --root installs need root');
if (skip) console.log(`# skipping rpm package tests: ${skip}`);

const UNIT = 'tripwarden-agent.service';
/** The package's architecture in RPM's spelling. */
const ARCH = ({ amd64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout?.trim() ?? ''] ?? 'x86_64';
let out = '';
let rpmFile = '';
before(() => {
  if (skip) return;
  out = mkdtempSync(join(tmpdir(), 'tw-rpm-'));
  buildPackage('agent', out);
  rpmFile = join(out, `tripwarden-agent-${version}-1.${ARCH}.rpm`);
  assert.ok(existsSync(rpmFile), `${rpmFile} not written next to the .deb: ${readdirSync(out).join(', ')}`);
});
after(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

interface RpmRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs rpm; Debian's rpm warns on stderr that it is not dpkg, so stdout and stderr stay apart. */
function rpm(...argv: string[]): RpmRun {
  const r = spawnSync('rpm', argv, { encoding: 'utf8', timeout: 300_000, maxBuffer: 16 << 20 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `rpm` against a throwaway root with its own database. */
function rpmRoot(dir: string): (...argv: string[]) => RpmRun {
  const r = rpm('--root', dir, '--dbpath', '/var/lib/rpm', '--initdb');
  assert.equal(r.status, 0, r.stderr);
  return (...argv) => {
    // Dependencies such as libc are not in the root: --nodeps wherever rpm takes it.
    const nodeps = ['-i', '-U', '-e', '-V'].includes(argv[0] ?? '') ? ['--nodeps'] : [];
    const run = rpm('--root', dir, '--dbpath', '/var/lib/rpm', ...nodeps, ...argv);
    assert.equal(run.status, 0, `rpm ${argv.join(' ')}: ${run.stdout}${run.stderr}`);
    return run;
  };
}

/** A root in which scriptlets can run: /bin/sh and the few programs they call, with the libraries those load. */
function shellRoot(): string {
  const dir = mkdtempSync(join(out, 'root-'));
  mkdirSync(join(dir, 'bin'));
  const progs: Array<[string, string]> = [['/bin/sh', '/bin/sh'], ...['mkdir', 'chmod', 'rm'].map((p): [string, string] => [`/bin/${p}`, `/bin/${p}`])];
  for (const [from, to] of progs) {
    copyFileSync(from, join(dir, to));
    chmodSync(join(dir, to), 0o755);
    for (const lib of spawnSync('ldd', [from], { encoding: 'utf8' }).stdout.match(/\/\S+/g) ?? []) {
      mkdirSync(join(dir, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(dir, lib));
    }
  }
  return dir;
}

/** The file list of the package as `OWNER:GROUP MODE FLAGS PATH` lines. */
const fileTable = (): string => rpm('-qp', '--qf', '[%{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]', rpmFile).stdout;

test('the scriptlets are clean under shellcheck', { skip: !existsSync('/usr/bin/shellcheck') && 'shellcheck not installed' }, () => {
  const dir = join(ROOT, 'scripts/rpm/agent');
  const r = spawnSync('/usr/bin/shellcheck', ['-s', 'sh', ...['post', 'preun', 'postun'].map((s) => join(dir, s))], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the built .rpm: its name, files, owners and modes, the config flag, its scriptlets and requirements', { skip }, () => {
  const nevra = rpm('-qp', '--qf', '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE}', rpmFile);
  assert.equal(nevra.stdout, `tripwarden-agent ${version} 1 ${ARCH} MIT`, nevra.stderr);

  assert.deepEqual(rpm('-qpl', rpmFile).stdout.trim().split('\n'), [
    '/etc/tripwarden',
    '/etc/tripwarden/agent.yml',
    '/usr/bin/tripwarden-agent',
    '/usr/lib/systemd/system/tripwarden-agent.service',
    '/usr/share/doc/tripwarden-agent',
    '/usr/share/doc/tripwarden-agent/copyright',
    '/usr/share/man/man8/tripwarden-agent.8.gz',
    '/var/lib/tripwarden-agent',
  ]);
  const table = fileTable();
  for (const line of [
    'root:root drwxr-xr-x  /etc/tripwarden',
    'root:root -rw------- cn /etc/tripwarden/agent.yml',
    'root:root -rwxr-xr-x  /usr/bin/tripwarden-agent',
    'root:root -rw-r--r--  /usr/lib/systemd/system/tripwarden-agent.service',
    'root:root drwx------  /var/lib/tripwarden-agent',
  ]) {
    assert.ok(table.split('\n').includes(line), `${line}\n${table}`);
  }
  assert.equal(rpm('-qpc', rpmFile).stdout, '/etc/tripwarden/agent.yml\n', 'the config, and only it, is %config');
  assert.doesNotMatch(table, /token|\.crt|\.key/i, 'no enrollment material in the package');

  const scripts = rpm('-qp', '--scripts', rpmFile).stdout;
  for (const s of ['postinstall', 'preuninstall', 'postuninstall']) assert.match(scripts, new RegExp(`^${s} scriptlet \\(using /bin/sh\\):$`, 'm'));
  assert.doesNotMatch(scripts, /^(preinstall|pretrans|posttrans)/m);
  // Erase-only work is guarded by the instance count rpm passes in $1.
  const preun = /^preuninstall scriptlet[^\n]*\n([\s\S]*?)^postuninstall/m.exec(scripts)?.[1] ?? '';
  assert.match(preun, /if \[ "\$1" -eq 0 \] && systemd_runs; then\n\s+systemctl --no-reload disable --now "\$unit"/);
  const postun = /^postuninstall scriptlet[^\n]*\n([\s\S]*)$/m.exec(scripts)?.[1] ?? '';
  assert.match(postun, /if \[ "\$1" -eq 0 \] && \[ -d "\$state" \]; then\n\s+rm -rf "\$state"/);

  const requires = rpm('-qpR', rpmFile).stdout;
  assert.match(requires, /^libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)$/m, 'library requirements come from the executable');
  assert.match(requires, /^\/bin\/sh$/m);
  assert.equal(rpm('-qp', '--recommends', rpmFile).stdout.trim(), 'systemd');
});

test('installed without scriptlets: paths, modes, owner and config flag; erase keeps a changed config as .rpmsave', { skip }, () => {
  const dir = mkdtempSync(join(out, 'root-'));
  const r = rpmRoot(dir);
  r('-i', '--noscripts', rpmFile);
  for (const [path, m] of [
    ['usr/bin/tripwarden-agent', 0o755],
    ['usr/lib/systemd/system/tripwarden-agent.service', 0o644],
    ['etc/tripwarden', 0o755],
    ['etc/tripwarden/agent.yml', 0o600],
    ['var/lib/tripwarden-agent', 0o700],
  ] as const) {
    assert.equal(mode(join(dir, path)), m, `${path} mode`);
    const st = statSync(join(dir, path));
    assert.deepEqual([st.uid, st.gid], [0, 0], `${path} owned by root`);
  }
  assert.equal(r('-qc', 'tripwarden-agent').stdout, '/etc/tripwarden/agent.yml\n');
  const unit = readFileSync(join(dir, 'usr/lib/systemd/system', UNIT), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/tripwarden-agent run --config \/etc\/tripwarden\/agent\.yml$/m);
  assert.match(unit, /^StateDirectory=tripwarden-agent$/m);
  assert.equal(readFileSync(join(dir, 'etc/tripwarden/agent.yml'), 'utf8'), readFileSync(join(ROOT, 'scripts/debian/agent/agent.yml'), 'utf8'));
  const exe = spawnSync(join(dir, 'usr/bin/tripwarden-agent'), ['--version'], { encoding: 'utf8' });
  assert.equal(exe.stdout.trim(), version, 'the packaged executable runs (rpmbuild left its appended code alone)');
  assert.equal(r('-V', 'tripwarden-agent').stdout, '', 'rpm -V: nothing changed');

  writeFileSync(join(dir, 'etc/tripwarden/agent.yml'), 'server: wss://tw.example.net:7443\n');
  const erased = r('-e', '--noscripts', 'tripwarden-agent');
  assert.match(erased.stderr, /agent\.yml saved as \/etc\/tripwarden\/agent\.yml\.rpmsave/);
  assert.equal(readFileSync(join(dir, 'etc/tripwarden/agent.yml.rpmsave'), 'utf8'), 'server: wss://tw.example.net:7443\n');
  assert.equal(mode(join(dir, 'etc/tripwarden/agent.yml.rpmsave')), 0o600, 'the saved config stays root-only');
  for (const gone of ['etc/tripwarden/agent.yml', 'usr/bin/tripwarden-agent', `usr/lib/systemd/system/${UNIT}`, 'usr/share/doc/tripwarden-agent', 'var/lib/tripwarden-agent']) {
    assert.equal(existsSync(join(dir, gone)), false, `${gone} removed`);
  }
  assert.equal(rpm('--root', dir, '--dbpath', '/var/lib/rpm', '-q', 'tripwarden-agent').status, 1, 'no longer installed');
});

test('with scriptlets and no systemd: install says how to enroll, an upgrade keeps the enrollment, erase deletes it', { skip }, () => {
  const dir = shellRoot();
  const r = rpmRoot(dir);
  const installed = r('-i', rpmFile);
  assert.match(installed.stdout, /^tripwarden-agent: not enrolled yet; .*'tripwarden-agent enroll --server wss:\/\/HOST:7443 --token TOKEN/m);
  assert.equal(mode(join(dir, 'var/lib/tripwarden-agent')), 0o700);

  // Enrolled and configured; an upgrade (the same package again: $1 is 2 in %post, 1 in the old %postun) keeps both.
  writeFileSync(join(dir, 'var/lib/tripwarden-agent/agent.crt'), 'CERT');
  writeFileSync(join(dir, 'etc/tripwarden/agent.yml'), 'server: wss://tw.example.net:7443\n');
  const upgraded = r('-U', '--replacepkgs', rpmFile);
  assert.doesNotMatch(upgraded.stdout, /not enrolled yet/, 'an enrolled host is not told to enroll');
  assert.equal(existsSync(join(dir, 'var/lib/tripwarden-agent/agent.crt')), true, 'upgrade keeps the enrollment');
  assert.match(readFileSync(join(dir, 'etc/tripwarden/agent.yml'), 'utf8'), /tw\.example\.net/, 'upgrade keeps the config (noreplace)');
  assert.equal(existsSync(join(dir, 'etc/tripwarden/agent.yml.rpmnew')), false, 'the packaged config did not change: no .rpmnew');

  const erased = r('-e', 'tripwarden-agent');
  assert.match(erased.stdout, /tripwarden-agent: deleted \/var\/lib\/tripwarden-agent .*enroll again/);
  assert.equal(existsSync(join(dir, 'var/lib/tripwarden-agent')), false, 'erase deletes key, certificate and spool');
  assert.deepEqual(readdirSync(join(dir, 'etc/tripwarden')), ['agent.yml.rpmsave']);
  assert.equal(existsSync(join(dir, 'usr/bin/tripwarden-agent')), false);
});

test('with a systemd that records: no enable without enrollment, try-restart on upgrade, stop and disable on erase', { skip }, () => {
  const dir = shellRoot();
  mkdirSync(join(dir, 'run/systemd/system'), { recursive: true });
  // `command -v systemctl >/dev/null` needs a /dev/null, as every real root has.
  mkdirSync(join(dir, 'dev'));
  const node = spawnSync('mknod', ['-m', '666', join(dir, 'dev/null'), 'c', '1', '3'], { encoding: 'utf8' });
  assert.equal(node.status, 0, `mknod /dev/null: ${node.stderr}`);
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/systemctl'), '#!/bin/sh\necho "$*" >>/systemctl.log\n', { mode: 0o755 });
  const log = join(dir, 'systemctl.log');
  const calls = (): string[] => {
    const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    rmSync(log, { force: true });
    return lines;
  };
  const r = rpmRoot(dir);

  r('-i', rpmFile);
  assert.deepEqual(calls(), ['daemon-reload'], 'not enrolled: neither enabled nor started');

  writeFileSync(join(dir, 'var/lib/tripwarden-agent/agent.crt'), 'CERT');
  r('-U', '--replacepkgs', rpmFile);
  // The new %post, then the old package's %postun; the old %preun stops nothing on an upgrade.
  assert.deepEqual(calls(), ['daemon-reload', `try-restart ${UNIT}`, 'daemon-reload'], 'restarted only if running');

  r('-e', 'tripwarden-agent');
  assert.deepEqual(calls(), [`--no-reload disable --now ${UNIT}`, 'daemon-reload']);

  // A host enrolled before the package is installed gets the agent enabled and started at once.
  mkdirSync(join(dir, 'var/lib/tripwarden-agent'), { mode: 0o700 });
  writeFileSync(join(dir, 'var/lib/tripwarden-agent/agent.crt'), 'CERT');
  const installed = r('-i', rpmFile);
  assert.deepEqual(calls(), ['daemon-reload', `enable --now ${UNIT}`]);
  assert.doesNotMatch(installed.stdout, /not enrolled yet/);
});
