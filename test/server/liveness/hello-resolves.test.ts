/** What a hello settles, and the alarm for a host that never says one: a fake clock and a real SQLite file. */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { LINGER_CHECK_MS } from '../../../server/liveness/liveness.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from './liveness-fixture.ts';

describeEngines('what a hello settles', ({ open }) => {
  const DAY = 86_400_000;

  test('an agent restarted at once after kill -9 (Restart=always, RestartSec=1): its hello resolves agent-disconnected', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    s.clock.advance(3_000);
    await s.liveness.disconnected('a', { othersLive: false, expected: false });
    assert.deepEqual(await s.openKinds('a'), ['agent-disconnected']);
    s.clock.advance(1_000);
    assert.equal(await s.liveness.hello('a', helloMsg(0, 10_000, randomUUID())), 'ok');
    assert.equal((await s.host('a')).status, 'up', 'never left up');
    assert.deepEqual(await s.openKinds('a'), []);
    const a = (await s.alarms.list({ host: 'a' }))[0]!;
    assert.equal(a.kind, 'agent-disconnected');
    assert.ok(a.resolvedAt, 'resolved, not deleted');
  });

  test('a host enrolled a day ago that never said hello raises host-never-seen once; its first hello resolves it', async () => {
    const s = livenessFixture(await open());
    await s.addHost('never');
    await s.addHost('quick');
    s.clock.advance(60_000);
    await s.liveness.hello('quick', helloMsg());
    await s.liveness.sweep();
    s.clock.advance(DAY - 60_001);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('never'), [], 'not before a day');
    s.clock.advance(LINGER_CHECK_MS);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('never'), ['host-never-seen']);
    assert.equal((await s.alarms.list({ host: 'never' }))[0]!.severity, 'warning');
    assert.deepEqual(
      (await s.openKinds('quick')).filter((k) => k === 'host-never-seen'),
      [],
      'a host that said hello is seen',
    );
    s.clock.advance(10 * LINGER_CHECK_MS);
    await s.liveness.sweep();
    assert.equal((await s.alarms.list({ host: 'never' })).length, 1, 'opened once');
    await s.liveness.hello('never', helloMsg());
    assert.deepEqual(await s.openKinds('never'), []);
    assert.equal((await s.host('never')).status, 'up');
  });
});
