import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const script = join(root, 'scripts', 'install-agent.sh');

interface Run {
  status: number | null;
  out: string;
}

function install(args: string[]): Run {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A temp dir holding a staging root and a stand-in agent that answers --version. */
function fixture(version = '9.8.7'): { dir: string; stage: string; exe: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tw-install-'));
  const stage = join(dir, 'root');
  spawnSync('mkdir', [stage]);
  const exe = join(dir, 'tripwarden-agent');
  writeFileSync(exe, `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  return { dir, stage, exe, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const mode = (p: string): number => statSync(p).mode & 0o777;

test('--dry-run prints every action, masks the token, and touches nothing', () => {
  const f = fixture();
  try {
    const r = install(['--exe', f.exe, '--name', 'twa', '--server', 'wss://sec:7443', '--token', 'S3CRET', '--ca-sha256', 'AB:CD', '--root', f.stage, '--dry-run']);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(readdirSync(f.stage), [], 'nothing written');
    for (const expected of [
      `would write: ${f.stage}/usr/local/sbin/twa (mode 0700`,
      `would write: ${f.stage}/etc/twa/agent.yml (mode 0600`,
      `would write: ${f.stage}/etc/systemd/system/twa.service (mode 0644`,
      'would run: /usr/local/sbin/twa enroll --server wss://sec:7443 --token *** --ca-sha256 AB:CD --config /etc/twa/agent.yml',
      'would run: systemctl daemon-reload',
      'would run: systemctl enable --now twa.service',
    ]) {
      assert.ok(r.out.includes(expected), `missing "${expected}" in:\n${r.out}`);
    }
    assert.doesNotMatch(r.out, /S3CRET/);
  } finally {
    f.cleanup();
  }
});

test('--root installs executable, config and unit with their modes, and a second run changes nothing', () => {
  const f = fixture();
  try {
    const args = ['--exe', f.exe, '--name', 'twa', '--prefix', '/opt/tw/sbin', '--server', 'wss://sec:7443', '--root', f.stage];
    const first = install(args);
    assert.equal(first.status, 0, first.out);
    const exe = join(f.stage, 'opt/tw/sbin/twa');
    const config = join(f.stage, 'etc/twa/agent.yml');
    const unit = join(f.stage, 'etc/systemd/system/twa.service');
    assert.equal(mode(exe), 0o700);
    assert.equal(readFileSync(exe, 'utf8'), readFileSync(f.exe, 'utf8'));
    assert.equal(mode(join(f.stage, 'etc/twa')), 0o700);
    assert.equal(mode(config), 0o600);
    assert.equal(readFileSync(config, 'utf8'), 'server: wss://sec:7443\nstateDir: /var/lib/twa\n');
    assert.equal(mode(unit), 0o644);
    const unitText = readFileSync(unit, 'utf8');
    assert.match(unitText, /^ExecStart=\/opt\/tw\/sbin\/twa run --config \/etc\/twa\/agent\.yml$/m);
    assert.match(unitText, /^StateDirectory=twa$/m);
    assert.match(unitText, /^WatchdogSec=30$/m, 'the rest of the unit is kept');
    assert.equal(mode(join(f.stage, 'var/lib/twa')), 0o700);
    assert.match(first.out, /skipped \(--root\): systemctl enable --now twa\.service/);

    const mtimes = [exe, config, unit].map((p) => statSync(p).mtimeMs);
    const second = install(args);
    assert.equal(second.status, 0, second.out);
    assert.match(second.out, /nothing changed: twa is installed as requested/);
    assert.doesNotMatch(second.out, /installed:|systemctl/);
    assert.deepEqual(
      [exe, config, unit].map((p) => statSync(p).mtimeMs),
      mtimes,
    );
  } finally {
    f.cleanup();
  }
});

test('a new executable replaces only the executable', () => {
  const f = fixture('1.0.0');
  try {
    const args = ['--exe', f.exe, '--name', 'twa', '--server', 'wss://sec:7443', '--root', f.stage];
    assert.equal(install(args).status, 0);
    writeFileSync(f.exe, '#!/bin/sh\necho 1.0.1\n');
    const r = install(args);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /agent 1\.0\.1/);
    assert.match(r.out, /installed: \/usr\/local\/sbin\/twa/);
    assert.match(r.out, /unchanged: \/etc\/twa\/agent\.yml/);
    assert.match(r.out, /unchanged: \/etc\/systemd\/system\/twa\.service/);
  } finally {
    f.cleanup();
  }
});

test('--config-src is copied as is, but only if its stateDir is the one the unit can write', () => {
  const f = fixture();
  try {
    const good = join(f.dir, 'good.yml');
    writeFileSync(good, 'server: wss://sec:7443\nstateDir: /var/lib/twa\ninterval: 5s\n');
    const ok = install(['--exe', f.exe, '--name', 'twa', '--config-src', good, '--root', f.stage]);
    assert.equal(ok.status, 0, ok.out);
    assert.equal(readFileSync(join(f.stage, 'etc/twa/agent.yml'), 'utf8'), readFileSync(good, 'utf8'));

    const bad = join(f.dir, 'bad.yml');
    writeFileSync(bad, 'server: wss://sec:7443\n');
    const refused = install(['--exe', f.exe, '--name', 'twa', '--config-src', bad, '--root', f.stage]);
    assert.equal(refused.status, 2);
    assert.match(refused.out, /error: .*bad\.yml has stateDir \(default \/var\/lib\/tripwarden-agent\); .*set 'stateDir: \/var\/lib\/twa'/);
  } finally {
    f.cleanup();
  }
});

test('--uninstall removes executable, config and unit, keeps the state dir unless --purge', () => {
  const f = fixture();
  try {
    assert.equal(install(['--exe', f.exe, '--name', 'twa', '--server', 'wss://sec:7443', '--root', f.stage]).status, 0);
    const r = install(['--uninstall', '--name', 'twa', '--root', f.stage]);
    assert.equal(r.status, 0, r.out);
    for (const gone of ['usr/local/sbin/twa', 'etc/twa', 'etc/systemd/system/twa.service']) {
      assert.equal(existsSync(join(f.stage, gone)), false, `${gone} still there`);
    }
    assert.equal(existsSync(join(f.stage, 'var/lib/twa')), true);
    assert.match(r.out, /kept: \/var\/lib\/twa/);
    assert.equal(install(['--uninstall', '--purge', '--name', 'twa', '--root', f.stage]).status, 0);
    assert.equal(existsSync(join(f.stage, 'var/lib/twa')), false);
    assert.match(install(['--uninstall', '--name', 'twa', '--root', f.stage]).out, /nothing to uninstall/);
  } finally {
    f.cleanup();
  }
});

test('bad input gets one clear error line and exit code 2', () => {
  const f = fixture();
  try {
    const cases: Array<[string[], RegExp]> = [
      [['--bogus'], /unknown option '--bogus'/],
      [['--exe', f.exe, '--root', f.stage], /missing --config-src FILE or --server/],
      [['--exe', f.exe, '--server', 'wss://s:1', '--token', 'T', '--root', f.stage], /--token needs --ca-sha256/],
      [['--exe', f.exe, '--server', 'https://s:1', '--root', f.stage], /must be wss:\/\/HOST:PORT/],
      [['--exe', f.exe, '--name', '../etc', '--server', 'wss://s:1', '--root', f.stage], /--name '\.\.\/etc' must be/],
      [['--exe', join(f.dir, 'missing'), '--server', 'wss://s:1', '--root', f.stage], /is not an executable file/],
    ];
    for (const [args, message] of cases) {
      const r = install(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.out}`);
      assert.match(r.out, message);
      assert.equal(r.out.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.out}`);
    }
    assert.deepEqual(readdirSync(f.stage), []);
  } finally {
    f.cleanup();
  }
});

test('install-agent.sh is clean under shellcheck', { skip: !existsSync('/usr/bin/shellcheck') && 'shellcheck not installed' }, () => {
  const r = spawnSync('/usr/bin/shellcheck', [script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

/**
 * Runs install-agent.sh live (no --root) in a private mount namespace whose
 * /etc, /usr, /var and /run are overlays with their upper layers in DIR, so
 * the run writes where a real install would and the machine is untouched.
 * Upper layers persist across calls: each call sees what the last one left.
 * systemd is not PID 1 here, so `systemctl` is either absent (deleted in the
 * overlay) or the stand-in in DIR/bin that keeps unit state in DIR/systemd.
 */
function installLive(dir: string, args: string[], systemctl: 'absent' | 'stand-in'): Run {
  const mounts = ['etc', 'usr', 'var', 'run']
    .map((d) => {
      spawnSync('mkdir', ['-p', join(dir, 'ov', d, 'up'), join(dir, 'ov', d, 'work')]);
      return `mount -t overlay overlay -o lowerdir=/${d},upperdir=${dir}/ov/${d}/up,workdir=${dir}/ov/${d}/work /${d}`;
    })
    .join(' && ');
  const prep = systemctl === 'absent' ? 'rm -f /usr/bin/systemctl /usr/sbin/systemctl' : 'mkdir -p /run/systemd/system';
  const path = systemctl === 'stand-in' ? `${dir}/bin:${process.env.PATH}` : process.env.PATH;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', `${mounts} && ${prep} && exec bash "$0" "$@"`, script, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PATH: path, FAKE_SYSTEMD: join(dir, 'systemd') },
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

const STAND_IN_SYSTEMCTL = `#!/bin/bash
# Stands in for systemctl: unit state as files in $FAKE_SYSTEMD; "broken" makes starts fail.
st=$FAKE_SYSTEMD; echo "$*" >>"$st/calls"
cmd=$1; unit=\${!#}
case $cmd in
  daemon-reload) ;;
  enable|restart|start)
    [[ $cmd == enable ]] && touch "$st/$unit.enabled"
    if [[ $cmd != enable || $2 == --now ]]; then
      if [[ -e $st/broken ]]; then echo "Job for $unit failed because the control process exited with error code." >&2; exit 1; fi
      touch "$st/$unit.active"
    fi ;;
  is-enabled) if [[ -e $st/$unit.enabled ]]; then echo enabled; else echo disabled; exit 1; fi ;;
  is-active) if [[ -e $st/$unit.active ]]; then echo active; else echo inactive; exit 3; fi ;;
  *) exit 1 ;;
esac
`;

const liveSkip = (() => {
  if (process.getuid?.() !== 0) return 'needs root for a private mount namespace with overlays';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
  return r.status === 0 ? false : `unshare --mount failed here: ${r.stderr}`;
})();
if (liveSkip) console.log(`# skipping the live install test: ${liveSkip}`);

test('a run that enrolls but cannot start the unit fails loudly, and the next run repairs it', { skip: liveSkip }, () => {
  const f = fixture();
  try {
    const state = join(f.dir, 'systemd');
    spawnSync('mkdir', ['-p', state, join(f.dir, 'bin')]);
    writeFileSync(join(f.dir, 'bin', 'systemctl'), STAND_IN_SYSTEMCTL, { mode: 0o755 });
    // The stand-in agent enrolls by writing its certificate, and counts enrollments.
    writeFileSync(f.exe, `#!/bin/sh\ncase "$1" in\n  --version) echo 9.8.7 ;;\n  enroll) echo enroll >>"${state}/enrolls"; touch /var/lib/twa/agent.crt ;;\nesac\n`);
    const args = ['--exe', f.exe, '--name', 'twa', '--server', 'wss://sec:7443', '--token', 'T0KEN', '--ca-sha256', 'AB:CD'];
    const errorLines = (out: string): string[] => out.split('\n').filter((l) => l.includes('error:'));

    // 1. No systemctl at all: installed and enrolled, but the run must fail.
    const noSystemctl = installLive(f.dir, args, 'absent');
    assert.equal(noSystemctl.status, 1, noSystemctl.out);
    assert.deepEqual(errorLines(noSystemctl.out), [
      'install-agent: error: systemctl not found: twa.service was installed but not started; install systemd (the agent must run under it), then run this script again (it repairs what is missing)',
    ]);
    assert.equal(readFileSync(join(state, 'enrolls'), 'utf8'), 'enroll\n');
    assert.equal(existsSync(join(f.dir, 'ov/etc/up/systemd/system/twa.service')), true, 'unit written into the overlay');
    assert.equal(existsSync('/etc/systemd/system/twa.service'), false, 'the machine is untouched');

    // 2. systemctl now, but the unit fails to start: files unchanged, still a failure, never "nothing changed".
    writeFileSync(join(state, 'broken'), '');
    const broken = installLive(f.dir, args, 'stand-in');
    assert.equal(broken.status, 1, broken.out);
    assert.doesNotMatch(broken.out, /nothing changed/);
    assert.match(broken.out, /repairing: twa\.service is disabled and inactive/);
    assert.deepEqual(errorLines(broken.out), [
      "install-agent: error: twa.service is enabled and inactive, not enabled and active: read 'journalctl -u twa.service', fix the cause, then run this script again (it repairs what is missing)",
    ]);

    // 3. The cause fixed: the same command repairs it, without enrolling again.
    rmSync(join(state, 'broken'));
    const repaired = installLive(f.dir, args, 'stand-in');
    assert.equal(repaired.status, 0, repaired.out);
    assert.match(repaired.out, /already enrolled .* token not used/);
    assert.match(repaired.out, /repairing: twa\.service is enabled and inactive/);
    assert.match(repaired.out, /nothing changed: twa is installed as requested; twa\.service is enabled and active/);
    assert.equal(readFileSync(join(state, 'enrolls'), 'utf8'), 'enroll\n', 'enrolled once');

    // 4. Healthy: verified, and nothing is started again.
    writeFileSync(join(state, 'calls'), '');
    const healthy = installLive(f.dir, args, 'stand-in');
    assert.equal(healthy.status, 0, healthy.out);
    assert.doesNotMatch(healthy.out, /repairing/);
    const calls = readFileSync(join(state, 'calls'), 'utf8').trim().split('\n');
    assert.ok(calls.includes('is-enabled twa.service') && calls.includes('is-active twa.service'), calls.join('; '));
    assert.deepEqual(
      calls.filter((c) => !c.startsWith('is-')),
      [],
      'nothing enabled, started or reloaded',
    );
  } finally {
    f.cleanup();
  }
});
