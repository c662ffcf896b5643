import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { Outbox } from '../../server/alarms/outbox.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { pruneOnce } from '../../server/retention.ts';
import type { SqlDb } from '../../server/storage/engine.ts';
import { describeEngines } from '../helpers/engines.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const DAY = 86_400_000;
const RETENTION = 30 * DAY;

async function setup(db: SqlDb) {
  const clock = new FakeClock();
  await db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('web1', 'default', 'pending', 'AA', ?)`, [clock.now()]);
  const outbox = new Outbox(db, 'mail', { claimTimeoutMs: 60_000, backlogMs: DAY });
  const count = async (table: string) => (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;
  return { db, clock, alarms: new AlarmStore(db), rollup: new HeartbeatRollup(db, clock), outbox, count };
}

describeEngines('retention', ({ open }) => {
  test('retention removes sent deliveries, their events and applied commands older than the retention; alarms stay', async () => {
    const s = await setup(await open());
    // Forty days ago: an alarm opened and resolved, both events mailed; a command applied.
    await s.alarms.open('web1', 'file-changed', '/usr/sbin/cron', s.clock.now());
    await s.alarms.resolve('web1', 'file-changed', s.clock.now(), '/usr/sbin/cron');
    await s.outbox.enlist(s.clock.now());
    await s.outbox.markSent(await s.outbox.claim([1, 2], s.clock.now()), s.clock.now(), '<m1>', false);
    await s.db.run(`INSERT INTO commands (action, host, arg, created_at, done_at) VALUES ('close-host', 'web1', 'revoked', ?, ?)`, [s.clock.now(), s.clock.now()]);
    s.clock.advance(40 * DAY);
    // Today: a new alarm, not yet mailed.
    await s.alarms.open('web1', 'agent-missing', 'heartbeat', s.clock.now());
    await s.outbox.enlist(s.clock.now());

    const n = (await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION))!;
    assert.deepEqual({ deliveries: n.deliveries, events: n.events, commands: n.commands }, { deliveries: 2, events: 2, commands: 1 });
    assert.equal(await s.count('alarms'), 2, 'alarms are the record and stay');
    assert.equal(await s.outbox.depth(), 1, 'the pending delivery of today stays');
    assert.deepEqual(
      (await s.outbox.due(s.clock.now(), 10)).map((d) => d.eventId),
      [3],
    );
    // A second pass finds nothing more.
    const again = (await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION))!;
    assert.deepEqual({ deliveries: again.deliveries, events: again.events, commands: again.commands }, { deliveries: 0, events: 0, commands: 0 });
  });

  test('retention keeps failed and pending deliveries, events a channel has not taken yet, and the newest event', async () => {
    const s = await setup(await open());
    await s.alarms.open('web1', 'file-changed', '/a', s.clock.now()); // event 1: delivery fails for good
    await s.alarms.open('web1', 'file-changed', '/b', s.clock.now()); // event 2: delivery still pending (SMTP down)
    await s.outbox.enlist(s.clock.now());
    await s.outbox.markFailed(await s.outbox.claim([1], s.clock.now()), 'rejected');
    await s.alarms.open('web1', 'file-changed', '/c', s.clock.now()); // event 3: not taken by the channel yet
    s.clock.advance(40 * DAY);

    const n = (await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION))!;
    assert.deepEqual({ deliveries: n.deliveries, events: n.events }, { deliveries: 0, events: 0 });
    assert.equal(await s.outbox.failedCount(), 1);
    assert.equal(await s.outbox.depth(), 1);
    assert.equal(await s.count('alarm_events'), 3);

    // Once taken and sent, all but the newest event go: its id must never be handed out again.
    await s.outbox.enlist(s.clock.now());
    await s.outbox.markSent(await s.outbox.claim([2, 3], s.clock.now()), s.clock.now(), '<m>', true);
    s.clock.advance(40 * DAY);
    await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
    assert.deepEqual(
      (await s.db.all<{ id: number }>('SELECT id FROM alarm_events ORDER BY id')).map((r) => r.id),
      [1, 3],
      'the failed one and the newest stay',
    );
    await s.alarms.open('web1', 'file-changed', '/d', s.clock.now());
    assert.equal((await s.db.get<{ id: number }>('SELECT MAX(id) AS id FROM alarm_events'))!.id, 4, 'event ids keep growing');
    assert.equal(await s.outbox.enlist(s.clock.now()), 1, 'the new event reaches the channel');
  });

  test('a channel no longer configured does not keep every later event: its cursor stops counting', async () => {
    const s = await setup(await open());
    const team = new Outbox(s.db, 'mail:web', { claimTimeoutMs: 60_000, backlogMs: DAY });
    await s.alarms.open('web1', 'file-changed', '/a', s.clock.now()); // event 1: both channels take it
    await team.enlist(s.clock.now());
    await team.markSent(await team.claim([1], s.clock.now()), s.clock.now(), '<t>', false);
    // The group's recipients are removed from the config: its cursor stays at event 1.
    for (const p of ['/b', '/c']) await s.alarms.open('web1', 'file-changed', p, s.clock.now());
    await s.outbox.enlist(s.clock.now());
    await s.outbox.markSent(await s.outbox.claim([1, 2, 3], s.clock.now()), s.clock.now(), '<m>', true);
    s.clock.advance(40 * DAY);

    await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION);
    assert.equal(await s.count('alarm_events'), 2, 'with every cursor counting, the old channel holds event 2');
    await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION, ['mail']);
    assert.deepEqual(
      (await s.db.all<{ id: number }>('SELECT id FROM alarm_events ORDER BY id')).map((r) => r.id),
      [3],
      'only the newest stays once the removed channel no longer counts',
    );
    await pruneOnce(s.db, s.rollup, s.clock.now(), RETENTION, []);
    assert.equal(await s.count('alarm_events'), 1, 'no channel at all: the newest event still stays');
  });
});
