/**
 * A clean stop with agents connected: `serve` gets SIGTERM, closes every agent connection, and stores each
 * disconnect before it closes the database. Real `serve` and agent processes on loopback.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enrollAgent, initServer, runAgent, startServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

test('SIGTERM stores the disconnect of every connected agent before the database closes', async (t) => {
  const server = await startServer(initServer());
  t.after(() => server.stop());
  const hosts = ['stop-a', 'stop-b', 'stop-c'];
  const agents = hosts.map((h) => runAgent(enrollAgent(server, h)));
  t.after(() => {
    for (const a of agents) a.signal('SIGKILL');
  });
  await waitFor(
    async () => {
      const c = server.ctx();
      try {
        const rows = await c.sql.all<{ n: number }>('SELECT COUNT(*) AS n FROM hosts WHERE connected = 1');
        return rows[0]!.n === hosts.length || undefined;
      } finally {
        await c.close();
      }
    },
    { timeoutMs: 60_000, what: 'every agent connected' },
  );
  assert.equal(await server.stop().then(() => server.proc.exited), 0);
  const failed = server.proc.lines.filter((l) => l.includes('could not record disconnect') || l.includes('could not drop the live-session row'));
  assert.deepEqual(failed, []);
  const c = server.ctx();
  try {
    assert.deepEqual(await c.sql.all('SELECT host FROM hosts WHERE connected = 1'), []);
  } finally {
    await c.close();
  }
});
