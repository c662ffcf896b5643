import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../agent/link/backoff.ts';

test('the ceiling doubles up to the cap, the wait is jittered below it, reset starts over', () => {
  const top = new Backoff({ baseMs: 500, capMs: 8_000, random: () => 0.999999 });
  const waits = Array.from({ length: 7 }, () => top.next());
  assert.deepEqual(waits, [499, 999, 1999, 3999, 7999, 7999, 7999]);
  top.reset();
  assert.equal(top.next(), 499);
  const low = new Backoff({ baseMs: 500, capMs: 8_000, floorMs: 100, random: () => 0 });
  assert.equal(low.next(), 100, 'never below the floor');
});
