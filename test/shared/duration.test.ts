import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../../shared/duration.ts';

test('durations with units', () => {
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30d'), 30 * 86_400_000);
});

test('anything else is an error that says what is accepted', () => {
  for (const bad of ['', '10', '10x', 's', '-5s', '1.5s', '10 s', '10sx']) {
    assert.throws(() => parseDuration(bad), /bad duration .*use e\.g\. 10s, 2m, 1h/, bad);
  }
});

test('formatting for people', () => {
  assert.equal(formatDuration(340), '340ms');
  assert.equal(formatDuration(12_000), '12s');
  assert.equal(formatDuration(3_900_000), '1h 5m');
});
