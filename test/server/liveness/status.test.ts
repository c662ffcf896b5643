import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadlines, deriveStatus, HOLD_MAX_MS, type StatusFields, stallHold } from '../../../server/liveness/status.ts';

const seen = (at: number): StatusFields => ({ state: 'active', lastSeen: at, ...deadlines(at, 10_000, 5_000), maintenanceUntil: null });

test('the default deadline is last heartbeat + 2 × 10 s + 5 s = 25 s, late after 15 s', () => {
  assert.deepEqual(deadlines(0, 10_000, 5_000), { lateAt: 15_000, dueAt: 25_000 });
});

test('a host never seen is pending', () => {
  assert.equal(deriveStatus({ state: 'active', lastSeen: null, lateAt: null, dueAt: null, maintenanceUntil: null }, 1e12), 'pending');
});

test('up until one interval is missed, late until the deadline, missing from the deadline on', () => {
  const h = seen(0);
  assert.equal(deriveStatus(h, 14_999), 'up');
  assert.equal(deriveStatus(h, 15_000), 'late');
  assert.equal(deriveStatus(h, 24_999), 'late');
  assert.equal(deriveStatus(h, 25_000), 'missing');
});

test('revoked beats everything, maintenance beats silence, stopped beats the deadline', () => {
  assert.equal(deriveStatus({ ...seen(0), state: 'revoked', maintenanceUntil: 1e15 }, 1), 'revoked');
  assert.equal(deriveStatus({ ...seen(0), maintenanceUntil: 100_000 }, 50_000), 'maintenance');
  assert.equal(deriveStatus({ ...seen(0), maintenanceUntil: 100_000 }, 100_000), 'missing', 'the window ends exactly at its end');
  assert.equal(deriveStatus({ ...seen(0), state: 'stopped' }, 1e9), 'stopped');
});

test("the server's own stall after the last heartbeat moves both deadlines by its length", () => {
  const h = seen(0);
  const stalls = [{ from: 20_000, to: 32_000 }]; // the server read nothing for 12 s, starting before the deadline
  assert.equal(deriveStatus(h, 24_999 + 12_000, stalls), 'late');
  assert.equal(deriveStatus(h, 25_000 + 12_000, stalls), 'missing');
  assert.equal(deriveStatus(h, 14_999, [{ from: 1_000, to: 5_000 }]), 'up');
  assert.equal(deriveStatus(h, 15_000 + 4_000, [{ from: 1_000, to: 5_000 }]), 'late');
});

test('a stall before the last heartbeat gives nothing; overlapping parts count once per span', () => {
  assert.equal(stallHold(10_000, 50_000, [{ from: 0, to: 10_000 }]), 0);
  assert.equal(
    stallHold(10_000, 50_000, [
      { from: 5_000, to: 12_000 },
      { from: 40_000, to: 60_000 },
    ]),
    2_000 + 10_000,
  );
  assert.equal(stallHold(null, 50_000, [{ from: 0, to: 50_000 }]), 0);
  assert.equal(deriveStatus(seen(10_000), 35_000, [{ from: 0, to: 10_000 }]), 'missing');
});

test('the hold is bounded: under a stall that never ends, a silent host is missing HOLD_MAX_MS after its deadline', () => {
  const h = seen(0);
  const forever = [{ from: 0, to: 1e15 }];
  assert.equal(stallHold(0, 1e9, forever), HOLD_MAX_MS);
  assert.equal(deriveStatus(h, 25_000 + HOLD_MAX_MS - 1, forever), 'late');
  assert.equal(deriveStatus(h, 25_000 + HOLD_MAX_MS, forever), 'missing');
});

test('a database outage holds in full, beside the capped stalls: missing its deadline after the outage ends', () => {
  const h = seen(0);
  const outage = { from: 1_000, to: 301_000, outage: true };
  assert.equal(stallHold(0, 400_000, [outage]), 300_000);
  assert.equal(deriveStatus(h, 324_999, [outage]), 'late');
  assert.equal(deriveStatus(h, 325_000, [outage]), 'missing');
  // An outage still open holds up to now; stalls beside it stay capped.
  assert.equal(
    stallHold(0, 500_000, [
      { from: 0, to: 1e15 },
      { from: 1_000, to: Infinity, outage: true },
    ]),
    HOLD_MAX_MS + 499_000,
  );
  assert.equal(stallHold(2_000, 500_000, [{ from: 1_000, to: Infinity, outage: true }]), 498_000, 'from the last heartbeat on');
});
