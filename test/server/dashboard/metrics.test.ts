import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { createMetrics } from '../../../server/dashboard/metrics.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describeEngines('metrics', ({ open }) => {
  test('/metrics reports hosts by status, open alarms by kind, heartbeats, outbox depth and connected agents', async () => {
    const db = await open();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const now = clock.now();
    await db.run(`INSERT INTO hosts (host, enrolled_at, last_seen, late_at, due_at) VALUES ('a', 0, ?, ?, ?), ('b', 0, NULL, NULL, NULL)`, [now - 100, now + 1000, now + 2000]);
    await new AlarmStore(db).open('a', 'file-changed', 'x', now);
    await db.run(`INSERT INTO deliveries (channel, event_id, next_attempt_at) VALUES ('mail', 1, 0)`);
    let beats = 5;
    const reg = createMetrics({ sql: db, hosts: new HostStore(db), clock, beatsReceived: () => beats, connectedAgents: () => 3 });
    let text = await reg.metrics();
    assert.match(text, /^tripwarden_hosts\{status="up"\} 1$/m);
    assert.match(text, /^tripwarden_hosts\{status="pending"\} 1$/m);
    assert.match(text, /^tripwarden_open_alarms\{kind="file-changed",severity="critical"\} 1$/m);
    assert.match(text, /^tripwarden_open_alarms\{kind="agent-missing",severity="critical"\} 0$/m);
    assert.match(text, /^tripwarden_heartbeats_received_total 5$/m);
    assert.match(text, /^tripwarden_outbox_depth\{channel="mail",state="pending"\} 1$/m);
    assert.match(text, /^tripwarden_connected_agents 3$/m);
    beats = 8;
    text = await reg.metrics();
    assert.match(text, /^tripwarden_heartbeats_received_total 8$/m);
  });

  test('a scrape while the store is unreachable rejects (the route answers 500), and the next one reads it again', async () => {
    const db = await open();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    await new AlarmStore(db).open('a', 'file-changed', 'x', clock.now());
    const reg = createMetrics({ sql: db, hosts: new HostStore(db), clock, beatsReceived: () => 0, connectedAgents: () => 0 });
    await db.run('ALTER TABLE deliveries RENAME TO deliveries_away');
    await assert.rejects(reg.metrics());
    await db.run('ALTER TABLE deliveries_away RENAME TO deliveries');
    assert.match(await reg.metrics(), /^tripwarden_open_alarms\{kind="file-changed",severity="critical"\} 1$/m);
  });
});
