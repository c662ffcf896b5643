import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { acceptAgentExe, judgeAgentExe } from '../../../server/baselines/agent-exe.ts';
import { describeEngines } from '../../helpers/engines.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describeEngines('the agent executable judge', ({ open }) => {
  async function setup() {
    const db = await open();
    const alarms = new AlarmStore(db);
    await db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h', 'default', 'pending', 'AA', 0)`);
    const openKinds = async (host: string) => (await alarms.list({ open: true, host })).map((a) => a.kind).sort();
    return { db, alarms, openKinds };
  }

  test('the first executable hash seen is accepted; another one opens agent-tampered with old and new', async () => {
    const s = await setup();
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', A, 1), 'first');
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', A, 2), 'same');
    assert.deepEqual(await s.openKinds('h'), []);
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', B, 3), 'changed');
    const [alarm] = await s.alarms.list({ open: true, host: 'h' });
    assert.equal(alarm!.kind, 'agent-tampered');
    assert.equal(alarm!.severity, 'critical');
    assert.deepEqual(alarm!.detail, { old: { sha256: A }, new: { sha256: B } });
  });

  test('going back to the accepted executable resolves it; accept takes the new one', async () => {
    const s = await setup();
    await judgeAgentExe(s.db, s.alarms, 'h', A, 1);
    await judgeAgentExe(s.db, s.alarms, 'h', B, 2);
    await judgeAgentExe(s.db, s.alarms, 'h', A, 3);
    assert.deepEqual(await s.openKinds('h'), [], 'back to the accepted binary');
    await judgeAgentExe(s.db, s.alarms, 'h', B, 4);
    assert.deepEqual(await s.openKinds('h'), ['agent-tampered']);
    assert.equal(await acceptAgentExe(s.db, s.alarms, 'h', 5), true);
    assert.deepEqual(await s.openKinds('h'), []);
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', B, 6), 'same');
  });

  test('an agent that reports no hash is not judged', async () => {
    const s = await setup();
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', undefined, 1), 'none');
  });

  test('inside a transaction of the caller: judged in it, and undone with it', async () => {
    const s = await setup();
    await judgeAgentExe(s.db, s.alarms, 'h', A, 1);
    await assert.rejects(
      s.db.tx(async (tx) => {
        assert.equal(await judgeAgentExe(tx, s.alarms, 'h', B, 2), 'changed');
        throw new Error('rolled back');
      }),
      /rolled back/,
    );
    assert.deepEqual(await s.openKinds('h'), []);
    assert.equal(await judgeAgentExe(s.db, s.alarms, 'h', A, 3), 'same');
  });
});
