/** One test per row of the status → alarm table (STYLE habit 6). */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISCONNECT_ALARM_STATUSES, HELLO_RESOLVES, LINGER_RULES, STATUS_RULES } from '../../../server/liveness/status-rules.ts';
import { ALARM_KINDS, HOST_STATUSES } from '../../../shared/alarm-kinds.ts';

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
test('pending for longer than a day: opens host-never-seen (a warning); no other status lingers into an alarm', () => {
  assert.deepEqual(LINGER_RULES.pending, { afterMs: 86_400_000, open: { kind: 'host-never-seen', subject: 'enrolled a day ago, never connected' } });
  assert.equal(ALARM_KINDS['host-never-seen'], 'warning');
  assert.deepEqual(Object.keys(LINGER_RULES), ['pending']);
});
test('any hello resolves agent-disconnected and host-never-seen, whatever the status', () => {
  assert.deepEqual([...HELLO_RESOLVES].sort(), ['agent-disconnected', 'host-never-seen']);
});
