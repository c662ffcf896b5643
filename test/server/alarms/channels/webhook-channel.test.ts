import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../../server/alarms/alarm-store.ts';
import { WEBHOOK_HEADERS, WebhookChannel, webhookSignature } from '../../../../server/alarms/channels/webhook-channel.ts';
import { Outbox } from '../../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../../server/alarms/outbox-worker.ts';
import { loadServerConfig } from '../../../../server/config.ts';
import { silentLogger } from '../../../../shared/log.ts';
import { openTestDb } from '../../../helpers/engines.ts';
import { FakeClock } from '../../../helpers/fake-clock.ts';
import { httpReceiver } from '../../../helpers/http-receiver.ts';

const SECRET = 'a-long-random-shared-secret-0123';

async function setup(t: { after: (fn: () => unknown) => void }, url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tw-webhook-'));
  const { db, cleanup } = await openTestDb('sqlite');
  t.after(async () => {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const secretFile = join(dir, 'webhook-secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', ['web1', 'web', clock.now()]);
  const channel = new WebhookChannel({ url, secretFile, timeout: 2000 }, () => clock.now());
  const worker = new OutboxWorker(new Outbox(db, channel.name), channel, { clock, log: silentLogger(), backoffMs: 5000, maxBackoffMs: 60_000 });
  t.after(() => worker.stop());
  return { dir, db, clock, alarms: new AlarmStore(db), worker };
}

test('an alarm opening and its resolution each arrive once as JSON, signed with HMAC-SHA256 over timestamp and body', async (t) => {
  const r = await httpReceiver(t);
  const { clock, alarms, worker } = await setup(t, r.url);
  const id = (await alarms.open('web1', 'file-changed', '/usr/sbin/cron changed', clock.now(), { path: '/usr/sbin/cron', old: 'sha256:aaa', new: 'sha256:bbb' }))!;

  assert.equal((await worker.runOnce()).sent, 1);
  assert.equal(r.hits.length, 1);
  const [hit] = r.hits;
  assert.ok(hit);
  assert.equal(hit.headers['content-type'], 'application/json');
  const ts = String(hit.headers[WEBHOOK_HEADERS.timestamp]);
  assert.equal(ts, String(clock.now() / 1000));
  assert.equal(hit.headers[WEBHOOK_HEADERS.signature], webhookSignature(SECRET, ts, hit.body), 'the receiver can verify it');
  assert.notEqual(hit.headers[WEBHOOK_HEADERS.signature], webhookSignature('another-secret-of-enough-length', ts, hit.body));
  const body = JSON.parse(hit.body);
  assert.equal(body.action, 'open');
  assert.deepEqual(
    { id: body.alarm.id, host: body.alarm.host, group: body.alarm.group, kind: body.alarm.kind, severity: body.alarm.severity },
    { id, host: 'web1', group: 'web', kind: 'file-changed', severity: 'critical' },
  );
  assert.deepEqual(body.alarm.detail, { path: '/usr/sbin/cron', old: 'sha256:aaa', new: 'sha256:bbb' });
  assert.equal(body.alarm.openedAt, '2026-01-01T12:00:00.000Z');
  assert.equal(hit.headers[WEBHOOK_HEADERS.event], String(body.eventId));

  assert.equal((await worker.runOnce()).sent, 0, 'a second pass sends nothing');
  clock.advance(1000);
  await alarms.resolve('web1', 'file-changed', clock.now());
  await worker.runOnce();
  assert.equal(r.hits.length, 2);
  assert.equal(JSON.parse(r.hits[1]?.body ?? '{}').action, 'resolve');
});

test('a receiver that answers 503 or is down gets the event again after the backoff; a 400 is not retried', async (t) => {
  const r = await httpReceiver(t, [503]);
  const { db, clock, alarms, worker } = await setup(t, r.url);
  await alarms.open('web1', 'agent-missing', 'no heartbeat before the deadline', clock.now());
  assert.equal((await worker.runOnce()).retried, 1);
  assert.match((await db.get<{ last_error: string }>('SELECT last_error FROM deliveries'))!.last_error, /HTTP 503/);
  assert.equal((await worker.runOnce()).sent, 0, 'not before its backoff');
  clock.advance(5000);
  assert.equal((await worker.runOnce()).sent, 1);
  assert.equal(r.hits.length, 2);
  assert.equal(r.hits[0]?.headers[WEBHOOK_HEADERS.event], r.hits[1]?.headers[WEBHOOK_HEADERS.event], 'the same event id on the retry');

  // Down: connection refused is transient too.
  await new Promise<void>((res) => r.server.close(() => res()));
  await alarms.open('web1', 'daemon-down', 'cron is not running', clock.now());
  assert.equal((await worker.runOnce()).retried, 1);

  const refusing = await httpReceiver(t, [400]);
  const other = await setup(t, refusing.url);
  await other.alarms.open('web1', 'port-opened', 'tcp/0.0.0.0:4444', other.clock.now());
  assert.equal((await other.worker.runOnce()).failed, 1, 'a 400 will be refused again: failed, not retried');
  other.clock.advance(120_000);
  await other.worker.runOnce();
  assert.equal(refusing.hits.length, 1);
});

test('server.yml: a webhook block is validated at load, naming the key; the secret file must exist and be long', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-webhook-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'server.yml');
  writeFileSync(cfg, 'webhook: { url: ftp://hooks.example/x, secretFile: /nonexistent }\n');
  assert.throws(() => loadServerConfig(cfg), /webhook\.url/);
  writeFileSync(cfg, 'webhook: { url: https://hooks.example/x, secretFile: /s, colour: red }\n');
  assert.throws(() => loadServerConfig(cfg), /colour/);
  writeFileSync(cfg, 'webhook: { url: https://hooks.example/x, secretFile: /nonexistent, timeout: 5s }\n');
  const loaded = loadServerConfig(cfg);
  assert.equal(loaded.webhook?.timeout, 5000);
  assert.throws(() => new WebhookChannel(loaded.webhook!), /webhook\.secretFile: cannot read \/nonexistent/);
  const short = join(dir, 'short');
  writeFileSync(short, 'abc\n');
  assert.throws(() => new WebhookChannel({ ...loaded.webhook!, secretFile: short }), /fewer than 16 characters/);
});
