import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptAgentExe, judgeAgentExe } from '../../../server/baselines/agent-exe.ts';
import { serverDb } from '../../helpers/server-db.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

test('the first executable hash seen is accepted; another one opens agent-tampered with old and new', () => {
  const s = serverDb();
  s.addHost('h');
  assert.equal(judgeAgentExe(s.db, s.alarms, 'h', A, 1), 'first');
  assert.equal(judgeAgentExe(s.db, s.alarms, 'h', A, 2), 'same');
  assert.deepEqual(s.openKinds('h'), []);
  assert.equal(judgeAgentExe(s.db, s.alarms, 'h', B, 3), 'changed');
  const [alarm] = s.alarms.list({ open: true, host: 'h' });
  assert.equal(alarm!.kind, 'agent-tampered');
  assert.equal(alarm!.severity, 'critical');
  assert.deepEqual(alarm!.detail, { old: { sha256: A }, new: { sha256: B } });
});

test('going back to the accepted executable resolves it; accept takes the new one', () => {
  const s = serverDb();
  s.addHost('h');
  judgeAgentExe(s.db, s.alarms, 'h', A, 1);
  judgeAgentExe(s.db, s.alarms, 'h', B, 2);
  judgeAgentExe(s.db, s.alarms, 'h', A, 3);
  assert.deepEqual(s.openKinds('h'), [], 'back to the accepted binary');
  judgeAgentExe(s.db, s.alarms, 'h', B, 4);
  assert.deepEqual(s.openKinds('h'), ['agent-tampered']);
  assert.equal(acceptAgentExe(s.db, s.alarms, 'h', 5), true);
  assert.deepEqual(s.openKinds('h'), []);
  assert.equal(judgeAgentExe(s.db, s.alarms, 'h', B, 6), 'same');
});

test('an agent that reports no hash is not judged', () => {
  const s = serverDb();
  s.addHost('h');
  assert.equal(judgeAgentExe(s.db, s.alarms, 'h', undefined, 1), 'none');
});
