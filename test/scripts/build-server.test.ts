import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openServerContext } from '../../server/context.ts';
import { systemClock } from '../../shared/clock.ts';
import { type BuiltServer, builtServer } from '../helpers/built-server.ts';
import { Proc, ROOT, serverCli } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';

let bin: string;
let tripwarden: BuiltServer['run'];

before(() => {
  ({ bin, run: tripwarden } = builtServer());
});

test('bin/tripwarden runs the built server: init, hosts and alarms print what the TypeScript prints', async () => {
  const dir = join(tempDir(), 'data');
  const init = tripwarden(['init', '--dir', dir, '--listen', '127.0.0.1:7443']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^ca-sha256: [0-9a-f:]+$/im);
  assert.equal(tripwarden(['token', 'web1', '--dir', dir]).code, 0);
  const ctx = openServerContext(dir, systemClock);
  try {
    await ctx.sql.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('web1', 'default', 'pending', 'AA', ?)`, [Date.now()]);
    await ctx.alarms.open('web1', 'file-changed', '/etc/cron.d/x', Date.now());
  } finally {
    await ctx.close();
  }
  for (const args of [
    ['hosts', '--json', '--dir', dir],
    ['alarms', '--json', '--dir', dir],
    ['hosts', '--dir', dir],
  ]) {
    const built = tripwarden(args);
    const source = serverCli(args);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(built.stdout.replace(/\d+[smhd]( \d+[smhd])* ago/g, 'T'), source.stdout.replace(/\d+[smhd]( \d+[smhd])* ago/g, 'T'), args.join(' '));
  }
  assert.match(tripwarden(['hosts', '--json', '--dir', dir]).stdout, /"host": "web1"/);
  assert.match(tripwarden(['alarms', '--json', '--dir', dir]).stdout, /"kind": "file-changed"/);
});

test('bin/tripwarden prints the version and refuses an unknown command with exit 2, as the source does', () => {
  assert.equal(tripwarden(['--version']).stdout, serverCli(['--version']).stdout);
  const built = tripwarden(['no-such-command']);
  assert.equal(built.code, 2);
  assert.equal(built.stderr, serverCli(['no-such-command']).stderr);
});

test('the built serve finds the dashboard assets beside its chunks', async () => {
  const dir = join(tempDir(), 'data');
  assert.equal(tripwarden(['init', '--dir', dir]).code, 0);
  const proc = new Proc(spawn(bin, ['serve', '--dir', dir, '--listen', '127.0.0.1:0', '--dashboard', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    const line = await proc.waitLog((o) => o.msg === 'serving', 30_000);
    const res = await fetch(new URL('static/dashboard.css', String(line.dashboard)));
    assert.equal(res.status, 200);
    assert.ok((await res.text()).length > 0);
  } finally {
    proc.signal('SIGTERM');
    assert.equal(await proc.exited, 0);
  }
});

test('without a build, bin/tripwarden says what to run, in one line', () => {
  const bare = tempDir('tw-unbuilt-');
  mkdirSync(join(bare, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'tripwarden'), join(bare, 'bin', 'tripwarden'));
  assert.ok(!existsSync(join(bare, 'dist')));
  const r = spawnSync(join(bare, 'bin', 'tripwarden'), ['hosts'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tripwarden: error: .*dist\/server\/main\.js is missing; run npm run build:server in .*\n$/);
});
