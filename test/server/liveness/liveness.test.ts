/** Silence detection with a fake clock and a real SQLite file: no sleeping. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOLD_MAX_MS } from '../../../server/liveness/status.ts';
import { BOOT, helloMsg, serverDb } from '../../helpers/server-db.ts';

test('hello makes a pending host up; heartbeats keep it up', () => {
  const s = serverDb();
  s.addHost('a');
  assert.equal(s.liveness.hello('a', helloMsg()), 'ok');
  assert.equal(s.hosts.get('a')!.status, 'up');
  for (let i = 1; i <= 5; i++) {
    s.clock.advance(10_000);
    assert.equal(s.liveness.heartbeat('a', BOOT, i), 'ok');
    s.liveness.sweep();
  }
  assert.equal(s.hosts.get('a')!.status, 'up');
  assert.deepEqual(s.openKinds('a'), []);
});

test('silence: late after interval + grace, missing with one agent-missing at 2 × interval + grace', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.clock.advance(14_999);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'up');
  s.clock.advance(1);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'late');
  assert.deepEqual(s.openKinds('a'), []);
  s.clock.advance(10_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'missing');
  assert.deepEqual(s.openKinds('a'), ['agent-missing']);
  s.clock.advance(60_000);
  s.liveness.sweep();
  assert.equal(s.alarms.list({ host: 'a' }).length, 1, 'opened once, however long the silence');
});

test('a heartbeat after missing resolves agent-missing, and one open and one resolve event are queued for mail', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.clock.advance(30_000);
  s.liveness.sweep();
  assert.equal(s.liveness.heartbeat('a', BOOT, 1), 'ok');
  assert.equal(s.hosts.get('a')!.status, 'up');
  assert.deepEqual(s.openKinds('a'), []);
  const events = s.db.prepare('SELECT action FROM alarm_events ORDER BY id').all() as { action: string }[];
  assert.deepEqual(
    events.map((e) => e.action),
    ['open', 'resolve'],
  );
});

test('the declared interval is capped by maxInterval', () => {
  const s = serverDb({ graceMs: 1000, maxIntervalMs: 20_000 });
  s.addHost('a');
  s.liveness.hello('a', helloMsg(0, 3_600_000));
  assert.equal(s.hosts.get('a')!.intervalMs, 20_000);
  s.clock.advance(41_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'missing');
});

test('unexpected disconnect opens agent-disconnected at once; goodbye instead gives stopped', () => {
  const s = serverDb();
  s.addHost('a');
  s.addHost('b');
  s.liveness.hello('a', helloMsg());
  s.liveness.disconnected('a', { othersLive: false, expected: false });
  assert.deepEqual(s.openKinds('a'), ['agent-disconnected']);
  s.liveness.hello('b', helloMsg());
  assert.equal(s.liveness.goodbye('b', BOOT, 1), 'ok');
  s.liveness.disconnected('b', { othersLive: false, expected: true });
  assert.equal(s.hosts.get('b')!.status, 'stopped');
  assert.deepEqual(s.openKinds('b'), ['agent-stopped']);
  s.clock.advance(100_000);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('b'), ['agent-stopped'], 'a stopped host does not also go missing');
});

test('replays: a heartbeat at or below the last sequence of the boot is refused', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg(5));
  assert.equal(s.liveness.heartbeat('a', BOOT, 5), 'replay');
  assert.equal(s.liveness.heartbeat('a', BOOT, 6), 'ok');
  assert.equal(s.liveness.heartbeat('a', BOOT, 6), 'replay');
  assert.equal(s.liveness.hello('a', helloMsg(3)), 'replay', 'a hello of the same boot must keep growing too');
  assert.equal(s.liveness.heartbeat('a', 'ffffffff-2222-4333-8444-555555555555', 7), 'unknown-boot');
});

test('maintenance silences; when it ends a silent host goes missing', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.liveness.setMaintenance('a', s.clock.now() + 60_000);
  assert.equal(s.hosts.get('a')!.status, 'maintenance');
  s.clock.advance(59_000);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('a'), []);
  s.clock.advance(1_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'missing');
  assert.deepEqual(s.openKinds('a'), ['agent-missing']);
});

test('after a server restart every healthy host gets time to reconnect (no false agent-missing)', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.clock.advance(20_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'late');
  s.clock.advance(600_000); // the server was down for ten minutes
  s.liveness.startGrace();
  s.liveness.sweep();
  assert.notEqual(s.hosts.get('a')!.status, 'missing');
  // Twice the deadline (2 × 25 s) plus the agent's longest backoff (30 s at a 10 s interval).
  s.clock.advance(79_000);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('a'), []);
  s.clock.advance(1_000);
  s.liveness.sweep();
  assert.deepEqual(s.openKinds('a'), ['agent-missing'], 'but an agent that stays silent is still caught');
});

test('revoke resolves liveness alarms and the host stays revoked', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  s.clock.advance(30_000);
  s.liveness.sweep();
  s.liveness.revoke('a');
  assert.equal(s.hosts.get('a')!.status, 'revoked');
  assert.deepEqual(s.openKinds('a'), []);
});

test('after a restart, a host still waiting to reconnect is spared while others are still coming back', () => {
  const s = serverDb();
  s.addHost('a');
  s.addHost('b');
  const B2 = '22222222-2222-4333-8444-555555555555';
  s.liveness.hello('a', helloMsg());
  s.liveness.hello('b', helloMsg(0, 10_000, B2));
  s.clock.advance(600_000); // the server was down
  s.liveness.startGrace();
  s.clock.advance(70_000);
  s.liveness.hello('b', helloMsg(1, 10_000, B2)); // the storm is still going
  s.clock.advance(15_000);
  s.liveness.sweep(); // past a's 80 s restart deadline
  assert.deepEqual(s.openKinds('a'), [], 'a is still in the reconnect queue');
  s.liveness.heartbeat('b', B2, 2);
  s.clock.advance(16_000);
  s.liveness.sweep(); // no hello for 31 s: the storm is over
  assert.deepEqual(s.openKinds('a'), ['agent-missing']);
  assert.deepEqual(s.openKinds('b'), []);
});

test("the server's own stall holds the deadline: a heartbeat read late after it is no agent-missing", () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  const t0 = s.clock.now();
  // The event loop was blocked from 5 s to 35 s (the tick after it notes the span, then sweeps).
  s.clock.advance(35_000);
  s.liveness.noteStall({ from: t0 + 5_000, to: t0 + 35_000 });
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'up', 'deadline 25 s + 30 s held');
  // The heartbeat the agent sent at 10 s is read now.
  assert.equal(s.liveness.heartbeat('a', BOOT, 1), 'ok');
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'up');
  assert.deepEqual(s.openKinds('a'), []);
});

test('a silent host is missing exactly the stall later; a stall before its last heartbeat moves nothing', () => {
  const s = serverDb();
  s.addHost('a');
  s.addHost('b');
  s.clock.advance(20_000);
  s.liveness.noteStall({ from: s.clock.now() - 20_000, to: s.clock.now() });
  s.liveness.hello('a', helloMsg());
  s.liveness.hello('b', helloMsg());
  const t0 = s.clock.now();
  // b is silent; the server stalls from 10 s to 17 s after its last heartbeat.
  s.clock.advance(17_000);
  s.liveness.noteStall({ from: t0 + 10_000, to: t0 + 17_000 });
  s.liveness.heartbeat('a', BOOT, 1);
  const a1 = s.clock.now();
  s.clock.advance(8_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('b')!.status, 'late', 'deadline 25 s + 7 s not reached');
  s.clock.advance(6_999);
  s.liveness.sweep();
  assert.equal(s.hosts.get('b')!.status, 'late');
  s.clock.advance(1);
  s.liveness.sweep();
  assert.equal(s.hosts.get('b')!.status, 'missing');
  assert.deepEqual(s.openKinds('b'), ['agent-missing']);
  // a beat at 17 s, after the stall: its deadline is its own 25 s, no credit.
  s.clock.advance(a1 + 25_000 - 1 - s.clock.now());
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'late');
  s.clock.advance(1);
  s.liveness.sweep();
  assert.equal(s.hosts.get('a')!.status, 'missing');
});

test('under overload that never ends a silent host is still declared missing, HOLD_MAX_MS after its deadline', () => {
  const s = serverDb();
  s.addHost('a');
  s.liveness.hello('a', helloMsg());
  const t0 = s.clock.now();
  let missingAt: number | null = null;
  // Every tick is a stall (e.g. a handshake storm that goes on), 250 ms at a time.
  for (let i = 0; i < 1_000 && missingAt === null; i++) {
    s.clock.advance(250);
    s.liveness.noteStall({ from: s.clock.now() - 250, to: s.clock.now() });
    s.liveness.sweep();
    if (s.hosts.get('a')!.status === 'missing') missingAt = s.clock.now() - t0;
  }
  assert.equal(missingAt, 25_000 + HOLD_MAX_MS);
  assert.deepEqual(s.openKinds('a'), ['agent-missing']);
});
