/**
 * A heartbeat that asks for no ack waits in the batcher for another's commit: the sweep commits it before
 * judging deadlines, so a beat that arrived in time is never judged late. A ServerApp on a real data dir with a
 * fake clock, its tick called by hand.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeartbeatBatcher } from '../../../server/gateway/heartbeat-batcher.ts';
import type { HeartbeatResult } from '../../../server/liveness/liveness.ts';
import { ServerApp } from '../../../server/server-app.ts';
import { silentLogger } from '../../../shared/log.ts';
import { initServer } from '../../helpers/cluster.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';

test('a heartbeat held for a shared commit is stored before the sweep judges its host', async (t) => {
  const clock = new FakeClock(Date.now());
  const app = new ServerApp({ dir: initServer().dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock, log: silentLogger(), channels: [] });
  t.after(() => app.ctx.close());
  const { sql, liveness, hosts } = app.ctx;
  await sql.run(`INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)`, ['h', clock.now()]);
  await liveness.hello('h', helloMsg(0, 10_000));
  const lateAt = (await hosts.get('h'))!.lateAt!;
  // The ticks on time up to 10 ms before the deadline (a jump of the clock would be a stall, holding deadlines).
  await app.onTick();
  while (clock.now() + 250 < lateAt - 10) {
    clock.advance(250);
    await app.onTick();
  }
  clock.advance(lateAt - 10 - clock.now());
  // What the agent's session does with a heartbeat that asks for no ack: it waits up to the hold for a commit.
  const beats = (app as unknown as { beats: HeartbeatBatcher }).beats;
  const got: (HeartbeatResult | Error)[] = [];
  beats.submit('h', BOOT, 1, (r) => got.push(r), false);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([...got], [], 'held: not committed yet');
  // Past the stored deadline, within the hold: the tick's sweep.
  clock.advance(20);
  await app.onTick();
  assert.deepEqual(got, ['ok']);
  assert.equal((await hosts.get('h'))!.status, 'up', 'the beat that arrived in time counts');
  assert.deepEqual(await app.ctx.alarms.list({ open: true }), []);
});
