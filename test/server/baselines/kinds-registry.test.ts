import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KINDS } from '../../../agent/checks/kinds/registry.ts';
import { kindOfAlarm, SERVER_KINDS } from '../../../server/baselines/kinds/registry.ts';
import { ALARM_KINDS } from '../../../shared/alarm-kinds.ts';
import { Report, StateEvent } from '../../../shared/protocol.ts';

test('agent and server register the same kinds, carried in the same report and event fields', () => {
  const agent = KINDS.map((k) => ({ kind: k.kind, field: k.field, goneField: k.goneField })).sort((a, b) => a.kind.localeCompare(b.kind));
  const server = SERVER_KINDS.map((k) => ({ kind: k.kind, field: k.field, goneField: k.goneField })).sort((a, b) => a.kind.localeCompare(b.kind));
  assert.deepEqual(agent, server);
  for (const k of SERVER_KINDS) {
    assert.ok(k.field in Report.shape && k.field in StateEvent.shape, `${k.kind}: ${k.field} is a report and event field`);
    if (k.goneField) assert.ok(k.goneField in StateEvent.shape, `${k.kind}: ${k.goneField} is an event field`);
  }
});

test('each alarm kind a judge opens is catalogued and opened by one kind only', () => {
  for (const k of SERVER_KINDS) {
    for (const a of k.alarms) {
      assert.ok(a in ALARM_KINDS, `${a} catalogued`);
      assert.equal(kindOfAlarm(a), k, `${a} belongs to ${k.kind} alone`);
    }
  }
  assert.equal(kindOfAlarm('port-opened')?.kind, 'port');
  assert.equal(kindOfAlarm('agent-missing'), undefined);
});

test('the agent checks are the registered kinds, named for their fields', async () => {
  const { CHECKS } = await import('../../../agent/checks/registry.ts');
  assert.deepEqual(Object.keys(CHECKS).sort(), ['daemons', 'files', 'mounts', 'ports']);
});
