import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadlines, deriveStatus, type StatusFields } from '../../server/status.ts';

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
