/** What a hello settles, and the alarm for a host that never says one: a fake clock and a real SQLite file. */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { LINGER_CHECK_MS } from '../../../server/liveness/liveness.ts';
import { helloMsg, serverDb } from '../../helpers/server-db.ts';

const DAY = 86_400_000;

test('an agent restarted at once after kill -9 (Restart=always, RestartSec=1): its hello resolves agent-disconnected', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.clock.advance(3_000);
  s.liveness.disconnected('a', { othersLive: false, expected: false });
  assert.deepEqual(s.openKinds('a'), ['agent-disconnected']);
  s.clock.advance(1_000);
  assert.equal(s.liveness.hello('a', helloMsg(0, 10_000, randomUUID())), 'ok');
  assert.equal(s.hosts.get('a')!.status, 'up', 'never left up');
  assert.deepEqual(s.openKinds('a'), []);
  const a = s.alarms.list({ host: 'a' })[0]!;
  assert.equal(a.kind, 'agent-disconnected');
  assert.ok(a.resolvedAt, 'resolved, not deleted');
});

test('a host enrolled a day ago that never said hello raises host-never-seen once; its first hello resolves it', () => {
  const s = serverDb();
  s.addHost('never');
  s.addHost('quick');
  s.clock.advance(60_000);
  s.liveness.hello('quick', helloMsg());
  s.liveness.sweep();
  s.clock.advance(DAY - 60_001);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('never'), [], 'not before a day');
  s.clock.advance(LINGER_CHECK_MS);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('never'), ['host-never-seen']);
  assert.equal(s.alarms.list({ host: 'never' })[0]!.severity, 'warning');
  assert.deepEqual(
    s.openKinds('quick').filter((k) => k === 'host-never-seen'),
    [],
    'a host that said hello is seen',
  );
  s.clock.advance(10 * LINGER_CHECK_MS);
  s.liveness.sweep();
  assert.equal(s.alarms.list({ host: 'never' }).length, 1, 'opened once');
  s.liveness.hello('never', helloMsg());
  assert.deepEqual(s.openKinds('never'), []);
  assert.equal(s.hosts.get('never')!.status, 'up');
});
