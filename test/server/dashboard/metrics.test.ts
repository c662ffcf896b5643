import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { createMetrics } from '../../../server/dashboard/metrics.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

test('/metrics reports hosts by status, open alarms by kind, heartbeats, outbox depth and connected agents', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-metrics-'));
  const db = openDatabase(join(dir, 'db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const now = clock.now();
  db.prepare(`INSERT INTO hosts (host, enrolled_at, last_seen, late_at, due_at) VALUES ('a', 0, ?, ?, ?), ('b', 0, NULL, NULL, NULL)`).run(now - 100, now + 1000, now + 2000);
  new AlarmStore(db).open('a', 'file-changed', 'x', now);
  db.prepare(`INSERT INTO deliveries (channel, event_id, next_attempt_at) VALUES ('mail', 1, 0)`).run();
  let beats = 5;
  const reg = createMetrics({ db, hosts: new HostStore(db), clock, beatsReceived: () => beats, connectedAgents: () => 3 });
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
