/**
 * An agent stopped while its checks are still starting (subscribing watches,
 * first full scan) says goodbye and exits: no watch subscription or worker
 * thread may outlive `stop` and hold the process.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { enrollAgent, initServer, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';

let server: TestServer | undefined;
after(() => server?.stop());

test('SIGTERM during the first full scan: the agent exits 0', async () => {
  server = await startServer(initServer());
  // A big recursive tree makes the first scan last a few hundred ms.
  const a = enrollAgent(server, 'early-stop', { extra: 'watch:\n  - { path: /usr/lib, recursive: true }\n' });
  const p = runAgent(a);
  await p.waitLog((o) => o.msg === 'checks starting');
  p.signal('SIGTERM');
  const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running after 15 s'), 15_000).unref())]);
  if (code !== 0) p.signal('SIGKILL');
  assert.equal(code, 0);
});

test('SIGTERM before the checks are even built (right after start): the agent exits 0', async () => {
  server ??= await startServer(initServer());
  const a = enrollAgent(server, 'earlier-stop', { extra: 'watch:\n  - { path: /usr/lib, recursive: true }\n' });
  for (let i = 0; i < 3; i++) {
    const p = runAgent(a);
    await p.waitLog((o) => o.msg === 'agent started');
    p.signal('SIGTERM');
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running after 15 s'), 15_000).unref())]);
    if (code !== 0) p.signal('SIGKILL');
    assert.equal(code, 0, `run ${i}`);
  }
});
