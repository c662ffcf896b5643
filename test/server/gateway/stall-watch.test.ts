/** The server's own stall, from tick drift and handshakes in flight: plain numbers for now, no sleeping. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StallWatch } from '../../../server/gateway/stall-watch.ts';

const watch = () => new StallWatch({ tickMs: 250, lagMs: 200, busyHandshakes: 64, busyLoop: 0.5 });

test('ticks on time (and ordinary jitter) are no stall', () => {
  const w = watch();
  assert.equal(w.sample(1_000, 0), null, 'the first sample has nothing to compare with');
  assert.equal(w.sample(1_250, 0), null);
  assert.equal(w.sample(1_500 + 199, 3), null);
});

test('a late tick is a stall from when it was due until it ran', () => {
  const w = watch();
  w.sample(1_000, 0);
  assert.deepEqual(w.sample(6_000, 0), { from: 1_250, to: 6_000 });
  assert.equal(w.sample(6_250, 0), null, 'on time again');
});

test('many handshakes in flight: the whole tick is a stall, however punctual the timer', () => {
  const w = watch();
  w.sample(1_000, 0);
  assert.deepEqual(w.sample(1_250, 64), { from: 1_000, to: 1_250 });
  assert.deepEqual(w.sample(1_500, 500), { from: 1_250, to: 1_500 });
  assert.equal(w.sample(1_750, 63), null);
});

test('handshakes in flight while the event loop idles are no stall: the server is waiting on its peers', () => {
  const w = watch();
  w.sample(1_000, 0, 0);
  assert.equal(w.sample(1_250, 500, 0.05), null);
  assert.equal(w.sample(1_500, 70, 0.49), null);
  assert.deepEqual(w.sample(1_750, 70, 0.5), { from: 1_500, to: 1_750 });
});
