/** The README's first command: the demo starts a server and an agent, prints the dashboard URL, and stops cleanly. */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverCli } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

test('npm run demo: dashboard URL printed, the demo host up, clean stop', async () => {
  const base = join(tempDir('tw-demo-'), 'demo');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/demo.ts'), '--dir', base, '--for', '8s'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  await waitFor(() => out.includes('Ctrl-C stops everything.'), { timeoutMs: 30_000, what: 'the demo banner' });
  assert.match(out, /dashboard: {3}http:\/\/127\.0\.0\.1:\d+\/ {3}\(user admin, password \S+\)/);
  const hosts = JSON.parse(serverCli(['hosts', '--dir', join(base, 'server'), '--json']).stdout) as { host: string; status: string }[];
  assert.deepEqual(
    hosts.map((h) => [h.host, h.status]),
    [['demo-host', 'up']],
  );
  assert.equal(await exited, 0);
  const after = JSON.parse(serverCli(['hosts', '--dir', join(base, 'server'), '--json']).stdout) as { status: string }[];
  assert.equal(after[0]!.status, 'stopped', 'the agent said goodbye on the way out');
});
