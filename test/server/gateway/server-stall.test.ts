/**
 * The server's tick notes its own stall before it sweeps: a ServerApp on a real data dir with a fake clock,
 * whose tick is called by hand. A jump of the clock between two ticks is the event loop blocked that long.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOLD_MAX_MS } from '../../../server/liveness/status.ts';
import { ServerApp } from '../../../server/server-app.ts';
import { silentLogger } from '../../../shared/log.ts';
import { initServer } from '../../helpers/cluster.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';

test('a blocked event loop holds agent-missing by the time it was blocked; a silent host is still declared missing after', async (t) => {
  const clock = new FakeClock(Date.now());
  const app = new ServerApp({ dir: initServer().dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock, log: silentLogger(), channels: [] });
  t.after(() => app.ctx.close());
  const { sql, liveness, hosts } = app.ctx;
  for (const h of ['beating', 'silent']) await sql.run(`INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)`, [h, clock.now()]);
  await liveness.hello('beating', helloMsg(0, 10_000));
  await liveness.hello('silent', helloMsg(0, 10_000));
  const t0 = clock.now();
  const grace = app.ctx.config.grace;
  await app.onTick();
  // Blocked for 40 s: past both hosts' deadlines (2 × 10 s + grace).
  clock.advance(40_000);
  await app.onTick();
  assert.equal((await hosts.get('beating'))!.status, 'up');
  assert.equal((await hosts.get('silent'))!.status, 'up');
  // The loop runs again: the heartbeat that waited in the socket is read.
  await liveness.heartbeat('beating', BOOT, 1);
  // Ticks on time from here: the silent host is missing at its deadline plus the 39.75 s the server was blocked.
  const due = t0 + 20_000 + grace + 39_750;
  while (clock.now() + 250 < due) {
    clock.advance(250);
    await app.onTick();
  }
  assert.equal((await hosts.get('silent'))!.status, 'late');
  clock.advance(due - clock.now());
  await app.onTick();
  assert.equal((await hosts.get('silent'))!.status, 'missing');
  assert.deepEqual(
    (await app.ctx.alarms.list({ open: true })).map((a) => `${a.host} ${a.kind}`),
    ['silent agent-missing'],
  );
  assert.ok(39_750 <= HOLD_MAX_MS);
});
