/** The hello-line budget: a few reconnects are each logged; a storm's lines past the budget are counted and reported. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogBudget } from '../../../server/gateway/log-budget.ts';

test('lines within the budget are logged; the rest of the period is counted, and the count rides on the next line', () => {
  const b = new LogBudget(2, 10_000);
  assert.deepEqual([b.take(0), b.take(1), b.take(2), b.take(3), b.take(9_999)], [0, 0, null, null, null]);
  // A new period: the first line says how many were held back, then the count starts over.
  assert.equal(b.take(10_000), 3);
  assert.equal(b.take(10_001), 0);
  assert.equal(b.take(10_002), null);
});

test('reconnects spread over time are all logged', () => {
  const b = new LogBudget(2, 10_000);
  for (let t = 0; t < 100_000; t += 6_000) assert.equal(b.take(t), 0);
});

test('a budget of one line is one line a period, the first after the period has passed', () => {
  const b = new LogBudget(1, 10_000);
  assert.deepEqual([b.take(0), b.take(5_000), b.take(9_999), b.take(10_000), b.take(12_000), b.take(25_000)], [0, null, null, 2, null, 1]);
});
