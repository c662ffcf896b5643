/**
 * The fault kit's direct enrollment beside a server in the same process: that server's transaction may be
 * open across awaits when the test writes (as right after `ServerApp.start()`, whose retention pass runs one).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openServerContext } from '../../server/context.ts';
import { systemClock } from '../../shared/clock.ts';
import { initServer } from '../helpers/cluster.ts';
import { enrollDirect } from './fault-kit.ts';

const dir = initServer().dir;
const ctx = openServerContext(dir, systemClock);
after(() => ctx.close());

test('enrollDirect while this process holds a write transaction across an await: it waits for the commit (no SQLITE_BUSY)', async () => {
  const order: string[] = [];
  const held = ctx.sql.tx(async (tx) => {
    await tx.run(`UPDATE instances SET agents = agents WHERE 1 = 0`);
    await sleep(50);
    order.push('committed');
  });
  const ids = await enrollDirect(dir, ['hotel', 'india']);
  order.push('enrolled');
  await held;
  assert.deepEqual(order, ['committed', 'enrolled']);
  assert.deepEqual(
    ids.map((i) => i.host),
    ['hotel', 'india'],
  );
  const rows = await ctx.sql.all<{ host: string }>(`SELECT host FROM hosts WHERE host IN ('hotel', 'india') ORDER BY host`);
  assert.deepEqual(
    rows.map((r) => r.host),
    ['hotel', 'india'],
  );
});
