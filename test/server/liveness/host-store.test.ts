import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEngines } from '../../helpers/engines.ts';
import { helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from './liveness-fixture.ts';

describeEngines('the host store', ({ open }) => {
  test('certificate reads what the endpoint checks: the state and the serial on record, nothing for an unknown host', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a', '0AB1');
    assert.deepEqual(await s.hosts.certificate('a'), { state: 'active', certSerial: '0AB1' });
    await s.db.run(`UPDATE hosts SET state = 'revoked' WHERE host = 'a'`);
    assert.deepEqual(await s.hosts.certificate('a'), { state: 'revoked', certSerial: '0AB1' });
    assert.equal(await s.hosts.certificate('zz'), undefined);
  });

  test('get reads a host as stored, also inside a transaction through its tx; views list the hosts that need a person first', async () => {
    const s = livenessFixture(await open());
    for (const h of ['a', 'b', 'c']) await s.addHost(h);
    await s.liveness.hello('a', helloMsg());
    await s.liveness.hello('b', helloMsg());
    s.clock.advance(30_000);
    await s.liveness.hello('a', helloMsg(1));
    await s.liveness.sweep();

    const b = await s.hosts.get('b');
    assert.deepEqual([b?.status, b?.connected, b?.sample, b?.intervalMs, b?.facts], ['missing', true, false, 10_000, {}]);
    assert.equal(await s.hosts.get('zz'), undefined);
    const inTx = await s.db.tx(async (tx) => {
      await tx.run(`UPDATE hosts SET agent_version = '9.9' WHERE host = 'c'`);
      return s.hosts.get('c', tx);
    });
    assert.equal(inTx?.agentVersion, '9.9', 'the transaction sees its own write');
    assert.deepEqual(
      (await s.hosts.all()).map((h) => h.host),
      ['a', 'b', 'c'],
    );

    const views = await s.hosts.views(s.clock.now());
    assert.deepEqual(
      views.map((v) => [v.host, v.status, v.openAlarms]),
      [
        ['b', 'missing', 1],
        ['c', 'pending', 0],
        ['a', 'up', 0],
      ],
    );
    assert.equal(views[0]!.silentFor, 30_000);
  });
});
