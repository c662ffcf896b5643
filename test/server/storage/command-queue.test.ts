/** The command queue as several `serve` instances read it: each command once per instance, answers that do not clobber. */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CommandQueue } from '../../../server/storage/command-queue.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { tempDir } from '../../helpers/temp.ts';

test('each instance reads every command once by its cursor; offline never hides the holder’s answer; stale ones expire', () => {
  const file = join(tempDir('tw-cmd-'), 'shared.db');
  const cli = new CommandQueue(openDatabase(file));
  const alpha = new CommandQueue(openDatabase(file));
  const bravo = new CommandQueue(openDatabase(file));
  const before = cli.enqueue('close-host', 'old', 'revoked', 1_000);
  // bravo starts now: commands before it are not its own.
  let bravoAt = bravo.latestId();
  let alphaAt = 0;
  const a = cli.enqueue('request-report', 'h1', 'operator accept', 100_000);
  const b = cli.enqueue('close-host', 'h1', 'revoked', 100_001);
  const readA = alpha.after(alphaAt).map((c) => c.id);
  alphaAt = readA.at(-1)!;
  const readB = bravo.after(bravoAt).map((c) => c.id);
  bravoAt = readB.at(-1)!;
  assert.deepEqual(readA, [before, a, b]);
  assert.deepEqual(readB, [a, b]);
  assert.deepEqual(alpha.after(alphaAt), [], 'read once');
  assert.deepEqual(bravo.after(bravoAt), []);

  // alpha holds h1 and answers; bravo, finding no holder in time, would say offline: it must not win.
  alpha.settle(a, 100_100, 'sent');
  bravo.settle(a, 100_200, 'offline', { ifUnset: true });
  assert.deepEqual(cli.state(a), { doneAt: 100_100, result: 'sent' });
  bravo.settle(b, 100_300);
  alpha.settle(b, 100_400);
  assert.deepEqual(cli.state(b), { doneAt: 100_300, result: null }, 'the first instance’s time stays');

  // One nobody acted on is marked done once it is past any wait, so retention can prune it.
  const lost = cli.enqueue('request-report', 'h2', 'operator accept', 200_000);
  assert.equal(alpha.expire(200_000 - 60_000, 200_500), 1, 'only the one before the cut: the first');
  assert.equal(cli.state(before)!.doneAt, 200_500);
  assert.equal(cli.state(lost)!.doneAt, null);
  assert.equal(alpha.expire(260_001 - 60_000, 260_001), 1);
  assert.equal(cli.state(lost)!.doneAt, 260_001);
});
