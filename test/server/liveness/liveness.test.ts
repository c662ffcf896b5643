/** Silence detection with a fake clock and a real SQLite file: no sleeping. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOLD_MAX_MS } from '../../../server/liveness/status.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { BOOT, helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from './liveness-fixture.ts';

describeEngines('liveness', ({ open }) => {
  test('hello makes a pending host up; heartbeats keep it up', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    assert.equal(await s.liveness.hello('a', helloMsg()), 'ok');
    assert.equal((await s.host('a')).status, 'up');
    for (let i = 1; i <= 5; i++) {
      s.clock.advance(10_000);
      assert.equal(await s.liveness.heartbeat('a', BOOT, i), 'ok');
      await s.liveness.sweep();
    }
    assert.equal((await s.host('a')).status, 'up');
    assert.deepEqual(await s.openKinds('a'), []);
  });

  test('silence: late after interval + grace, missing with one agent-missing at 2 × interval + grace', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    s.clock.advance(14_999);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'up');
    s.clock.advance(1);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'late');
    assert.deepEqual(await s.openKinds('a'), []);
    s.clock.advance(10_000);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'missing');
    assert.deepEqual(await s.openKinds('a'), ['agent-missing']);
    s.clock.advance(60_000);
    await s.liveness.sweep();
    assert.equal((await s.alarms.list({ host: 'a' })).length, 1, 'opened once, however long the silence');
  });

  test('a heartbeat after missing resolves agent-missing, and one open and one resolve event are queued for mail', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    s.clock.advance(30_000);
    await s.liveness.sweep();
    assert.equal(await s.liveness.heartbeat('a', BOOT, 1), 'ok');
    assert.equal((await s.host('a')).status, 'up');
    assert.deepEqual(await s.openKinds('a'), []);
    const events = await s.db.all<{ action: string }>('SELECT action FROM alarm_events ORDER BY id');
    assert.deepEqual(
      events.map((e) => e.action),
      ['open', 'resolve'],
    );
  });

  test('the declared interval is capped by maxInterval', async () => {
    const s = livenessFixture(await open(), { graceMs: 1000, maxIntervalMs: 20_000 });
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg(0, 3_600_000));
    assert.equal((await s.host('a')).intervalMs, 20_000);
    s.clock.advance(41_000);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'missing');
  });

  test('unexpected disconnect opens agent-disconnected at once; goodbye instead gives stopped', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    await s.liveness.hello('a', helloMsg());
    await s.liveness.disconnected('a', { othersLive: false, expected: false });
    assert.deepEqual(await s.openKinds('a'), ['agent-disconnected']);
    await s.liveness.hello('b', helloMsg());
    assert.equal(await s.liveness.goodbye('b', BOOT, 1), 'ok');
    await s.liveness.disconnected('b', { othersLive: false, expected: true });
    assert.equal((await s.host('b')).status, 'stopped');
    assert.deepEqual(await s.openKinds('b'), ['agent-stopped']);
    s.clock.advance(100_000);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('b'), ['agent-stopped'], 'a stopped host does not also go missing');
  });

  test('replays: a heartbeat at or below the last sequence of the boot is refused', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg(5));
    assert.equal(await s.liveness.heartbeat('a', BOOT, 5), 'replay');
    assert.equal(await s.liveness.heartbeat('a', BOOT, 6), 'ok');
    assert.equal(await s.liveness.heartbeat('a', BOOT, 6), 'replay');
    assert.equal(await s.liveness.hello('a', helloMsg(3)), 'replay', 'a hello of the same boot must keep growing too');
    assert.equal(await s.liveness.heartbeat('a', 'ffffffff-2222-4333-8444-555555555555', 7), 'unknown-boot');
  });

  test('maintenance silences; when it ends a silent host goes missing', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    await s.liveness.setMaintenance('a', s.clock.now() + 60_000);
    assert.equal((await s.host('a')).status, 'maintenance');
    s.clock.advance(59_000);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('a'), []);
    s.clock.advance(1_000);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'missing');
    assert.deepEqual(await s.openKinds('a'), ['agent-missing']);
  });

  test('after a server restart every healthy host gets time to reconnect (no false agent-missing)', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    s.clock.advance(20_000);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'late');
    s.clock.advance(600_000); // the server was down for ten minutes
    await s.liveness.startGrace();
    await s.liveness.sweep();
    assert.notEqual((await s.host('a')).status, 'missing');
    // Twice the deadline (2 × 25 s) plus the agent's longest backoff (30 s at a 10 s interval).
    s.clock.advance(79_000);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('a'), []);
    s.clock.advance(1_000);
    await s.liveness.sweep();
    assert.deepEqual(await s.openKinds('a'), ['agent-missing'], 'but an agent that stays silent is still caught');
  });

  test('revoke resolves liveness alarms and the host stays revoked', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    s.clock.advance(30_000);
    await s.liveness.sweep();
    await s.liveness.revoke('a');
    assert.equal((await s.host('a')).status, 'revoked');
    assert.deepEqual(await s.openKinds('a'), []);
  });

  test('after a restart, a host still waiting to reconnect is spared while others are still coming back', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    const B2 = '22222222-2222-4333-8444-555555555555';
    await s.liveness.hello('a', helloMsg());
    await s.liveness.hello('b', helloMsg(0, 10_000, B2));
    s.clock.advance(600_000); // the server was down
    await s.liveness.startGrace();
    s.clock.advance(70_000);
    await s.liveness.hello('b', helloMsg(1, 10_000, B2)); // the storm is still going
    s.clock.advance(15_000);
    await s.liveness.sweep(); // past a's 80 s restart deadline
    assert.deepEqual(await s.openKinds('a'), [], 'a is still in the reconnect queue');
    await s.liveness.heartbeat('b', B2, 2);
    s.clock.advance(16_000);
    await s.liveness.sweep(); // no hello for 31 s: the storm is over
    assert.deepEqual(await s.openKinds('a'), ['agent-missing']);
    assert.deepEqual(await s.openKinds('b'), []);
  });

  test("the server's own stall holds the deadline: a heartbeat read late after it is no agent-missing", async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    const t0 = s.clock.now();
    // The event loop was blocked from 5 s to 35 s (the tick after it notes the span, then sweeps).
    s.clock.advance(35_000);
    s.liveness.noteStall({ from: t0 + 5_000, to: t0 + 35_000 });
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'up', 'deadline 25 s + 30 s held');
    // The heartbeat the agent sent at 10 s is read now.
    assert.equal(await s.liveness.heartbeat('a', BOOT, 1), 'ok');
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'up');
    assert.deepEqual(await s.openKinds('a'), []);
  });

  test('a silent host is missing exactly the stall later; a stall before its last heartbeat moves nothing', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    s.clock.advance(20_000);
    s.liveness.noteStall({ from: s.clock.now() - 20_000, to: s.clock.now() });
    await s.liveness.hello('a', helloMsg());
    await s.liveness.hello('b', helloMsg());
    const t0 = s.clock.now();
    // b is silent; the server stalls from 10 s to 17 s after its last heartbeat.
    s.clock.advance(17_000);
    s.liveness.noteStall({ from: t0 + 10_000, to: t0 + 17_000 });
    await s.liveness.heartbeat('a', BOOT, 1);
    const a1 = s.clock.now();
    s.clock.advance(8_000);
    await s.liveness.sweep();
    assert.equal((await s.host('b')).status, 'late', 'deadline 25 s + 7 s not reached');
    s.clock.advance(6_999);
    await s.liveness.sweep();
    assert.equal((await s.host('b')).status, 'late');
    s.clock.advance(1);
    await s.liveness.sweep();
    assert.equal((await s.host('b')).status, 'missing');
    assert.deepEqual(await s.openKinds('b'), ['agent-missing']);
    // a beat at 17 s, after the stall: its deadline is its own 25 s, no credit.
    s.clock.advance(a1 + 25_000 - 1 - s.clock.now());
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'late');
    s.clock.advance(1);
    await s.liveness.sweep();
    assert.equal((await s.host('a')).status, 'missing');
  });

  test('under overload that never ends a silent host is still declared missing, HOLD_MAX_MS after its deadline', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.liveness.hello('a', helloMsg());
    const t0 = s.clock.now();
    let missingAt: number | null = null;
    // Every tick is a stall (e.g. a handshake storm that goes on), 250 ms at a time.
    for (let i = 0; i < 1_000 && missingAt === null; i++) {
      s.clock.advance(250);
      s.liveness.noteStall({ from: s.clock.now() - 250, to: s.clock.now() });
      await s.liveness.sweep();
      if ((await s.host('a')).status === 'missing') missingAt = s.clock.now() - t0;
    }
    assert.equal(missingAt, 25_000 + HOLD_MAX_MS);
    assert.deepEqual(await s.openKinds('a'), ['agent-missing']);
  });
});
