import assert from 'node:assert/strict';
import { test } from 'node:test';
import { portAllowList, setHostGroup, setPortAlarms, setPortAllowed, setSample } from '../../../server/fleet/fleet-membership.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { describeEngines } from '../../helpers/engines.ts';

describeEngines('fleet membership', ({ open }) => {
  test('group, sample and group-ports write what GroupPeers reads on the next judgement', async () => {
    const db = await open();
    const peers = new GroupPeers(db);
    await db.run(`INSERT INTO hosts (host, grp, enrolled_at) VALUES ('h1', 'default', 0)`);
    assert.deepEqual(await peers.place('h1'), { group: 'default', sample: false });
    assert.deepEqual(await peers.place('nosuch'), { group: 'default', sample: false });

    assert.equal(await setHostGroup(db, 'h1', 'web'), 'default');
    assert.equal(await setHostGroup(db, 'h1', 'web'), 'web');
    await setSample(db, 'h1', true);
    assert.deepEqual(await peers.place('h1'), { group: 'web', sample: true });
    await setSample(db, 'h1', false);
    assert.deepEqual(await peers.place('h1'), { group: 'web', sample: false });
    await assert.rejects(setHostGroup(db, 'nosuch', 'web'), { code: 'TW_HOST_UNKNOWN' });
    await assert.rejects(setSample(db, 'nosuch', true), { code: 'TW_HOST_UNKNOWN' });
    await assert.rejects(setHostGroup(db, 'h1', 'bad group'), { code: 'TW_GROUP_NAME' });

    assert.equal(await peers.portAlarms('web'), true, 'on by default');
    await setPortAlarms(db, 'web', false);
    assert.equal(await peers.portAlarms('web'), false);
    await setPortAlarms(db, 'web', true);
    assert.equal(await peers.portAlarms('web'), true);

    await setPortAllowed(db, 'web', ['rpc.statd', 'nc', 'Xvnc'], true);
    await setPortAllowed(db, 'web', ['nc'], true); // allowed twice: kept once
    assert.deepEqual(await portAllowList(db, 'web'), ['Xvnc', 'nc', 'rpc.statd'], 'sorted as bytes on both engines');
    assert.equal(await peers.portAllowed('web', 'nc'), true);
    assert.equal(await peers.portAllowed('db', 'nc'), false, 'per group');
    assert.equal(await peers.portAllowed('web', ''), false, 'an unknown owner is never allowed');
    await setPortAllowed(db, 'web', ['nc'], false);
    assert.deepEqual(await portAllowList(db, 'web'), ['Xvnc', 'rpc.statd']);
    await assert.rejects(setPortAllowed(db, 'web', ['a name far longer than comm'], true), { code: 'TW_ARGS' });
    assert.deepEqual(await portAllowList(db, 'web'), ['Xvnc', 'rpc.statd']);
  });
});
