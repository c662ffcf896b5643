import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const analyzer = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const skip = analyzer ? false : 'systemd-analyze not installed (apt-get install systemd)';
if (skip) console.log(`# skipping systemd unit checks: ${skip}`);

/**
 * Copies a unit into a fresh temp dir, with ExecStart's program replaced by a
 * copy of /bin/true of the same name: `verify` insists the program exists.
 */
function stageUnit(unit: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tw-unit-'));
  const text = readFileSync(join(root, 'scripts', unit), 'utf8');
  const staged = text.replace(/^ExecStart=(\S+)/m, (_, program: string) => {
    const standIn = join(dir, basename(program));
    copyFileSync('/bin/true', standIn);
    return `ExecStart=${standIn}`;
  });
  assert.notEqual(staged, text, `${unit} has no ExecStart=`);
  const path = join(dir, unit);
  writeFileSync(path, staged);
  return { dir, path };
}

function analyze(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(analyzer as string, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const unit of ['tripwarden-agent.service', 'tripwarden-server.service']) {
  test(`${unit} passes systemd-analyze verify with no complaint at all`, { skip }, () => {
    const { dir, path } = stageUnit(unit);
    try {
      // verify exits 0 even on unknown keys; anything on stderr is a finding.
      const r = analyze(['verify', path], dir);
      assert.equal(r.stderr, '', `systemd-analyze verify ${unit}:\n${r.stderr}`);
      assert.equal(r.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${unit} has a low systemd-analyze security exposure`, { skip }, () => {
    const { dir, path } = stageUnit(unit);
    try {
      const r = analyze(['security', '--offline=true', '--no-pager', path], dir);
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.stdout);
      assert.ok(m, `no exposure score in:\n${r.stdout}${r.stderr}`);
      console.log(`${unit}: systemd-analyze security exposure ${m[1]} ${m[2]}`);
      // Both are well inside "OK" (< 5); a jump means a hardening line was lost.
      assert.ok(Number(m[1]) <= (unit.includes('agent') ? 4 : 2), `exposure ${m[1]} is higher than before`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the agent unit keeps what the agent needs and drops what breaks it', () => {
  const unit = readFileSync(join(root, 'scripts', 'tripwarden-agent.service'), 'utf8');
  const set = (key: string): string[] => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] ?? '').trim());
  assert.deepEqual(set('Type'), ['notify']);
  assert.deepEqual(set('WatchdogSec'), ['30']);
  assert.deepEqual(set('Restart'), ['always']);
  assert.deepEqual(set('UnsetEnvironment'), ['NODE_OPTIONS']);
  assert.deepEqual(set('StartLimitIntervalSec'), ['0']);
  for (const breaks of ['MemoryDenyWriteExecute', 'ProtectKernelLogs', 'PrivateDevices', 'ProtectProc', 'ProcSubset', 'PrivateTmp', 'DynamicUser', 'PrivateUsers']) {
    assert.deepEqual(set(breaks), [], `${breaks}= breaks the agent (docs in the unit)`);
  }
  assert.ok(set('DeviceAllow').includes('/dev/kmsg w'));
});

test('the server runs jitless, which is what makes MemoryDenyWriteExecute possible', {
  skip: !existsSync(join(root, 'server', 'main.ts')) && 'server/main.ts not written yet',
}, () => {
  const unit = readFileSync(join(root, 'scripts', 'tripwarden-server.service'), 'utf8');
  assert.match(unit, /^ExecStart=\S*node --jitless /m);
  assert.match(unit, /^MemoryDenyWriteExecute=yes$/m);
  // The server must start without a JIT (no WebAssembly, no global fetch).
  const dir = mkdtempSync(join(tmpdir(), 'tw-jitless-'));
  try {
    const r = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', 'server/main.ts', 'init', '--dir', join(dir, 'data')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `server init under --jitless failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
