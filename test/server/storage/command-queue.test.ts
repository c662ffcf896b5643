/** The command queue as several `serve` instances read it: each command once per instance, answers that do not clobber. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS_CHANNEL, CommandQueue } from '../../../server/storage/command-queue.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { describeEngines, openTestDb } from '../../helpers/engines.ts';

describeEngines('the command queue', ({ engine }) => {
  test('each instance reads every command once by its cursor; offline never hides the holder’s answer; stale ones expire', async () => {
    // Three connections to one store: the CLI and two `serve` instances.
    const t = await openTestDb(engine);
    const others: SqlDb[] = [openSqlDb(t.target, PG_MIGRATIONS), openSqlDb(t.target, PG_MIGRATIONS)];
    try {
      const cli = new CommandQueue(t.db);
      const alpha = new CommandQueue(others[0]!);
      const bravo = new CommandQueue(others[1]!);
      const before = await cli.enqueue('close-host', 'old', 'revoked', 1_000);
      // bravo starts now: commands before it are not its own.
      let bravoAt = await bravo.latestId();
      let alphaAt = 0;
      const a = await cli.enqueue('request-report', 'h1', 'operator accept', 100_000);
      const b = await cli.enqueue('close-host', 'h1', 'revoked', 100_001);
      const readA = (await alpha.after(alphaAt)).map((c) => c.id);
      alphaAt = readA.at(-1)!;
      const readB = (await bravo.after(bravoAt)).map((c) => c.id);
      bravoAt = readB.at(-1)!;
      assert.deepEqual(readA, [before, a, b]);
      assert.deepEqual(readB, [a, b]);
      assert.deepEqual(await alpha.after(alphaAt), [], 'read once');
      assert.deepEqual(await bravo.after(bravoAt), []);

      // alpha holds h1 and answers; bravo, finding no holder in time, would say offline: it must not win.
      await alpha.settle(a, 100_100, 'sent');
      await bravo.settle(a, 100_200, 'offline', { ifUnset: true });
      assert.deepEqual(await cli.state(a), { doneAt: 100_100, result: 'sent' });
      await bravo.settle(b, 100_300);
      await alpha.settle(b, 100_400);
      assert.deepEqual(await cli.state(b), { doneAt: 100_300, result: null }, 'the first instance’s time stays');

      // One nobody acted on is marked done once it is past any wait, so retention can prune it.
      const lost = await cli.enqueue('request-report', 'h2', 'operator accept', 200_000);
      assert.equal(await alpha.expire(200_000 - 60_000, 200_500), 1, 'only the one before the cut: the first');
      assert.equal((await cli.state(before))!.doneAt, 200_500);
      assert.equal((await cli.state(lost))!.doneAt, null);
      assert.equal(await alpha.expire(260_001 - 60_000, 260_001), 1);
      assert.equal((await cli.state(lost))!.doneAt, 260_001);
    } finally {
      for (const o of others) await o.close();
      await t.cleanup();
    }
  });

  test('take marks what it returns done; tidy and setResult; an unknown id has no state', async () => {
    const t = await openTestDb(engine);
    try {
      const q = new CommandQueue(t.db);
      const one = await q.enqueue('close-host', 'h1', 'revoked', 10);
      const two = await q.enqueue('request-report', null, null, 11);
      assert.ok(two > one, 'ids grow');
      assert.deepEqual(await q.take(20), [
        { id: one, action: 'close-host', host: 'h1', arg: 'revoked', createdAt: 10 },
        { id: two, action: 'request-report', host: null, arg: null, createdAt: 11 },
      ]);
      assert.deepEqual(await q.take(21), [], 'taken once');
      await q.setResult(one, 'sent');
      assert.deepEqual(await q.state(one), { doneAt: 20, result: 'sent' });
      const three = await q.enqueue('close-host', 'h2', 'revoked', 30);
      await q.tidy(three, 40);
      assert.equal((await q.state(three))!.doneAt, 40);
      assert.equal(await q.latestId(), three);
      assert.equal(await q.state(three + 100), null);
    } finally {
      await t.cleanup();
    }
  });

  test(`enqueue wakes the other instances on ${COMMANDS_CHANNEL}; queued inside a transaction, the wake-up waits for the commit`, async () => {
    const t = await openTestDb(engine);
    // On SQLite only this process's listeners hear it: the listener is on the same handle there.
    const other = engine === 'postgres' ? openSqlDb(t.target, PG_MIGRATIONS) : t.db;
    try {
      const cli = new CommandQueue(t.db);
      const serve = new CommandQueue(other);
      let woken = 0;
      const seen: number[] = [];
      const stop = serve.listen(() => {
        woken++;
        void serve.after(0).then((cs) => seen.push(cs.length));
      });
      const deadline = Date.now() + 10_000;
      if (engine === 'postgres') {
        // Connected, the listening client wakes every listener once (a wake-up may have been missed before).
        while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen, [0]);
        woken = 0;
        seen.length = 0;
      }
      const id = await cli.enqueue('close-host', 'h1', 'revoked', 1);
      while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(woken, 1, 'woken once');
      assert.deepEqual(seen, [1], 'the woken instance finds the command');
      await t.db.tx(async (tx) => {
        await cli.enqueue('close-host', 'h2', 'revoked', 2, tx);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(woken, 1, 'no wake-up before the commit');
      });
      await cli.wake();
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen, [1, 2]);
      assert.ok(id > 0);
      stop();
    } finally {
      if (other !== t.db) await other.close();
      await t.cleanup();
    }
  });
});
