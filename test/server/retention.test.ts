import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Outbox } from '../../server/alarms/outbox.ts';
import { pruneOnce } from '../../server/retention.ts';
import { serverDb } from '../helpers/server-db.ts';

const DAY = 86_400_000;
const RETENTION = 30 * DAY;

function setup() {
  const s = serverDb();
  s.addHost('web1');
  const outbox = new Outbox(s.db, 'mail', { claimTimeoutMs: 60_000, backlogMs: DAY });
  const count = (table: string) => (s.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { ...s, outbox, count };
}

test('retention removes sent deliveries, their events and applied commands older than the retention; alarms stay', () => {
  const s = setup();
  // Forty days ago: an alarm opened and resolved, both events mailed; a command applied.
  s.alarms.open('web1', 'file-changed', '/usr/sbin/cron', s.clock.now());
  s.alarms.resolve('web1', 'file-changed', s.clock.now(), '/usr/sbin/cron');
  s.outbox.enlist(s.clock.now());
  s.outbox.markSent(s.outbox.claim([1, 2], s.clock.now()), s.clock.now(), '<m1>', false);
  s.db.prepare(`INSERT INTO commands (action, host, arg, created_at, done_at) VALUES ('close-host', 'web1', 'revoked', ?, ?)`).run(s.clock.now(), s.clock.now());
  s.clock.advance(40 * DAY);
  // Today: a new alarm, not yet mailed.
  s.alarms.open('web1', 'agent-missing', 'heartbeat', s.clock.now());
  s.outbox.enlist(s.clock.now());

  const n = pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
  assert.deepEqual({ deliveries: n.deliveries, events: n.events, commands: n.commands }, { deliveries: 2, events: 2, commands: 1 });
  assert.equal(s.count('alarms'), 2, 'alarms are the record and stay');
  assert.equal(s.outbox.depth(), 1, 'the pending delivery of today stays');
  assert.deepEqual(
    s.outbox.due(s.clock.now(), 10).map((d) => d.eventId),
    [3],
  );
  // A second pass finds nothing more.
  const again = pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
  assert.deepEqual({ deliveries: again.deliveries, events: again.events, commands: again.commands }, { deliveries: 0, events: 0, commands: 0 });
});

test('retention keeps failed and pending deliveries, events a channel has not taken yet, and the newest event', () => {
  const s = setup();
  s.alarms.open('web1', 'file-changed', '/a', s.clock.now()); // event 1: delivery fails for good
  s.alarms.open('web1', 'file-changed', '/b', s.clock.now()); // event 2: delivery still pending (SMTP down)
  s.outbox.enlist(s.clock.now());
  s.outbox.markFailed(s.outbox.claim([1], s.clock.now()), 'rejected');
  s.alarms.open('web1', 'file-changed', '/c', s.clock.now()); // event 3: not taken by the channel yet
  s.clock.advance(40 * DAY);

  const n = pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
  assert.deepEqual({ deliveries: n.deliveries, events: n.events }, { deliveries: 0, events: 0 });
  assert.equal(s.outbox.failedCount(), 1);
  assert.equal(s.outbox.depth(), 1);
  assert.equal(s.count('alarm_events'), 3);

  // Once taken and sent, all but the newest event go: its id must never be handed out again.
  s.outbox.enlist(s.clock.now());
  s.outbox.markSent(s.outbox.claim([2, 3], s.clock.now()), s.clock.now(), '<m>', true);
  s.clock.advance(40 * DAY);
  pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
  assert.deepEqual(s.db.prepare('SELECT id FROM alarm_events ORDER BY id').pluck().all(), [1, 3], 'the failed one and the newest stay');
  s.alarms.open('web1', 'file-changed', '/d', s.clock.now());
  assert.equal(s.db.prepare('SELECT MAX(id) FROM alarm_events').pluck().get(), 4, 'event ids keep growing');
  assert.equal(s.outbox.enlist(s.clock.now()), 1, 'the new event reaches the channel');
});
