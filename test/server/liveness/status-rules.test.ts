/** One test per row of the status → alarm table (STYLE habit 6). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_STATUSES } from '../../../shared/alarm-kinds.ts';
import { STATUS_RULES, DISCONNECT_ALARM_STATUSES } from '../../../server/liveness/status-rules.ts';

test('every status has a row', () => {
  assert.deepEqual(Object.keys(STATUS_RULES).sort(), [...HOST_STATUSES].sort());
});
test('pending: opens nothing, resolves nothing', () => assert.deepEqual(STATUS_RULES.pending, { resolve: [] }));
test('up: resolves every liveness alarm', () => {
  assert.equal(STATUS_RULES.up.open, undefined);
  assert.deepEqual([...STATUS_RULES.up.resolve].sort(), ['agent-disconnected', 'agent-missing', 'agent-stopped']);
});
test('late: a warning state only, no alarm', () => assert.deepEqual(STATUS_RULES.late, { resolve: [] }));
test('missing: opens agent-missing', () => assert.equal(STATUS_RULES.missing.open?.kind, 'agent-missing'));
test('stopped: opens agent-stopped and resolves the disconnect it explains', () => {
  assert.equal(STATUS_RULES.stopped.open?.kind, 'agent-stopped');
  assert.ok(STATUS_RULES.stopped.resolve.includes('agent-disconnected'));
});
test('maintenance: silences, neither opens nor resolves', () => assert.deepEqual(STATUS_RULES.maintenance, { resolve: [] }));
test('revoked: resolves liveness alarms, opens none', () => {
  assert.equal(STATUS_RULES.revoked.open, undefined);
  assert.deepEqual([...STATUS_RULES.revoked.resolve].sort(), ['agent-disconnected', 'agent-missing', 'agent-stopped']);
});
test('an unexpected disconnect alarms only for hosts that were expected to be talking', () => {
  assert.deepEqual([...DISCONNECT_ALARM_STATUSES].sort(), ['late', 'pending', 'up']);
});
