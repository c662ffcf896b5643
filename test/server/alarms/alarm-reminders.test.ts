import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmReminders, REMIND_LOOK_MS } from '../../../server/alarms/alarm-reminders.ts';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import type { AlarmNotice } from '../../../server/alarms/channels/channel.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { formatDigestMail } from '../../../server/alarms/channels/mail-format.ts';
import { formatSyslog } from '../../../server/alarms/channels/syslog-channel.ts';
import { WebhookChannel } from '../../../server/alarms/channels/webhook-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import { defaultServerConfigText, loadServerConfig } from '../../../server/config.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';
import { tempDir } from '../../helpers/temp.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OVERRIDES = { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 };

function mailWorker(db: SqlDb, clock: FakeClock, port: number, dir: string): OutboxWorker {
  const channel = new MailChannel({
    smtp: { host: '127.0.0.1', port, secure: false, from: 'tripwarden@test.example', to: 'security@test.example' },
    dir,
    perMinute: 1000,
    transportOverrides: OVERRIDES,
  });
  return new OutboxWorker(new Outbox(db, channel.name), channel, { clock, log: silentLogger() });
}

/** Reminder events written so far (one per reminder, whatever the channels). */
async function reminderEvents(db: SqlDb): Promise<number[]> {
  return (await db.all<{ reminder: number }>('SELECT reminder FROM alarm_events WHERE reminder IS NOT NULL ORDER BY id')).map((r) => r.reminder);
}

describeEngines('reminders for critical alarms left open', ({ engine, open }) => {
  async function setup(t: { after: (fn: () => unknown) => void }) {
    const db = await open();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const dir = tempDir('tw-remind-');
    for (const host of ['web1', 'web2']) await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', [host, 'web', clock.now()]);
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const w = mailWorker(db, clock, port, dir);
    t.after(() => w.stop());
    return { db, clock, dir, peer, w, alarms: new AlarmStore(db), reminders: new AlarmReminders(db, DAY) };
  }

  test('a critical alarm open and not acked gets one reminder a period, on mail and webhook, saying how long it has been open', async (t) => {
    const { db, clock, dir, peer, w, alarms, reminders } = await setup(t);
    const hits: { body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        hits.push({ body });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    writeFileSync(join(dir, 'secret'), 'a-long-random-shared-secret-0123\n');
    const hook = new WebhookChannel({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, secretFile: join(dir, 'secret'), timeout: 2000 }, () => clock.now());
    const hw = new OutboxWorker(new Outbox(db, hook.name), hook, { clock, log: silentLogger() });
    t.after(() => hw.stop());

    const id = (await alarms.open('web1', 'file-changed', '/usr/sbin/sshd changed', clock.now(), { path: '/usr/sbin/sshd' }))!;
    assert.equal((await w.runOnce()).sent, 1, 'the opening');
    await hw.runOnce();

    clock.advance(DAY - 1000);
    assert.equal(await reminders.pass(clock.now()), 0, 'not before a period');
    clock.advance(1000);
    assert.equal(await reminders.pass(clock.now()), 1, 'one at a period');
    assert.equal(await reminders.pass(clock.now()), 0, 'and only one');
    clock.advance(HOUR);
    assert.equal(await reminders.pass(clock.now()), 0, 'not again within the period');
    assert.equal((await w.runOnce()).sent, 1);
    await hw.runOnce();
    const mails = await peer.waitFor(2);
    assert.equal(mails[1]!.subject, 'Reminder: [critical] web1 file-changed open for 1d: /usr/sbin/sshd changed');
    assert.match(mails[1]!.text!, /Reminder: alarm \d+ on web1 has been open for 1d and nobody has acknowledged it\./);
    assert.ok(mails[1]!.text!.includes(`ack ${id} --dir ${dir}`), 'the reminder says how to stop it');
    assert.equal(mails[1]!.headers.get('x-tripwarden-action'), 'remind');
    assert.equal(hits.length, 2);
    const body = JSON.parse(hits[1]!.body);
    assert.deepEqual([body.action, body.alarm.id, body.alarm.openedAt, body.at], ['remind', id, '2026-01-01T12:00:00.000Z', '2026-01-02T12:00:00.000Z']);

    clock.advance(DAY - HOUR);
    assert.equal(await reminders.pass(clock.now()), 1, 'the second period');
    // The server was down for three periods: one reminder when it is back, not three.
    clock.advance(3 * DAY + HOUR);
    assert.equal(await reminders.pass(clock.now()), 1);
    assert.equal(await reminders.pass(clock.now() + HOUR), 0);
    assert.deepEqual(await reminderEvents(db), [1, 2, 5], 'each numbered by the periods it has been open');
    assert.equal((await w.runOnce()).sent, 2);
    assert.match((await peer.waitFor(4))[3]!.subject!, /^Reminder: .* open for 5d 1h: /);

    // Resolved: no more.
    await alarms.resolve('web1', 'file-changed', clock.now());
    clock.advance(2 * DAY);
    assert.equal(await reminders.pass(clock.now()), 0, 'a resolved alarm is not reminded of');
  });

  test('none for an acked alarm (also one acked after its reminder was written), none for a warning, none with remind 0s', async (t) => {
    const { db, clock, w, alarms, reminders, peer } = await setup(t);
    const acked = (await alarms.open('web1', 'daemon-down', 'sshd is not running', clock.now()))!;
    const late = (await alarms.open('web2', 'daemon-down', 'cron is not running', clock.now()))!;
    await alarms.open('web1', 'port-opened', 'tcp/0.0.0.0:4444', clock.now());
    assert.equal((await w.runOnce()).sent, 3);
    await alarms.ack(acked, clock.now() + HOUR);
    clock.advance(DAY);
    assert.equal(await new AlarmReminders(db, 0).pass(clock.now()), 0, 'remind 0s: never');
    assert.equal(await reminders.pass(clock.now()), 1, 'only the critical alarm nobody acked');
    // Acked after its reminder was written, before it went out: the reminder is dropped.
    await alarms.ack(late, clock.now());
    assert.equal((await w.runOnce()).sent, 0);
    assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'dropped'`))!.n, 1);
    clock.advance(5 * DAY);
    assert.equal(await reminders.pass(clock.now()), 0);
    assert.equal(peer.received.length, 3, 'the openings only');
  });

  test('none while a maintenance window holds the kind; one when the window ends with the alarm still open', async (t) => {
    const { db, clock, w, alarms, reminders, peer } = await setup(t);
    await alarms.open('web1', 'file-changed', '/etc/passwd changed', clock.now(), { path: '/etc/passwd' });
    assert.equal((await w.runOnce()).sent, 1);
    clock.advance(DAY - HOUR);
    await db.run('UPDATE hosts SET maintenance_until = ? WHERE host = ?', [clock.now() + 2 * HOUR, 'web1']);
    clock.advance(HOUR);
    assert.equal(await reminders.pass(clock.now()), 0, 'held by the window');
    clock.advance(HOUR - 1);
    assert.equal(await reminders.pass(clock.now()), 0);
    clock.advance(1);
    assert.equal(await reminders.pass(clock.now()), 1, 'the window has ended');
    assert.equal((await w.runOnce()).sent, 1);
    assert.match((await peer.waitFor(2))[1]!.subject!, /^Reminder: \[critical\] web1 file-changed open for 1d 1h: /);
  });

  test('two instances on one database write one reminder a period and mail it once', async (t) => {
    const made = await openTestDb(engine);
    t.after(() => made.cleanup());
    const db = made.db;
    // The second instance: its own connections to the same PostgreSQL database. On SQLite, one process with two
    // connections to a file would stall (a waiting BEGIN blocks the event loop the holder needs): both share the
    // one connection there, and their passes still interleave (each reads what is due before the other writes).
    let other = db;
    if (engine === 'postgres') {
      const second = openSqlDb(made.target, PG_MIGRATIONS);
      await second.ready();
      t.after(() => second.close());
      other = second;
    }
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const dir = tempDir('tw-remind2-');
    const alarms = new AlarmStore(db);
    for (let i = 0; i < 20; i++) {
      await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', [`h${i}`, 'web', clock.now()]);
      await alarms.open(`h${i}`, 'agent-missing', 'no heartbeat before the deadline', clock.now());
    }
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const w1 = mailWorker(db, clock, port, dir);
    const w2 = mailWorker(other, clock, port, dir);
    t.after(() => Promise.all([w1.stop(), w2.stop()]));
    const [o1, o2] = await Promise.all([w1.runOnce(), w2.runOnce()]);
    assert.equal(o1.sent + o2.sent, 20);

    const a = new AlarmReminders(db, DAY);
    const b = new AlarmReminders(other, DAY);
    clock.advance(DAY);
    const wrote = await Promise.all([a.pass(clock.now()), b.pass(clock.now()), a.pass(clock.now()), b.pass(clock.now())]);
    assert.equal(
      wrote.reduce((x, y) => x + y),
      20,
      `one reminder per alarm between them (${wrote.join(', ')})`,
    );
    assert.deepEqual(await reminderEvents(db), Array(20).fill(1));
    const [r1, r2] = await Promise.all([w1.runOnce(), w2.runOnce()]);
    assert.equal(r1.sent + r2.sent, 20, 'each reminder mailed once');
    const mails = await peer.waitFor(40);
    assert.equal(mails.filter((m) => m.subject?.startsWith('Reminder:')).length, 20);
    assert.equal(new Set(mails.filter((m) => m.subject?.startsWith('Reminder:')).map((m) => m.subject)).size, 20, 'one per alarm');
  });
});

test('a reminder in syslog and in a digest says it is one and how long the alarm has been open', () => {
  const n: AlarmNotice = {
    eventId: 9,
    action: 'remind',
    at: Date.UTC(2026, 0, 2, 13, 0, 0),
    alarmId: 4,
    host: 'web1',
    group: 'web',
    kind: 'agent-missing',
    severity: 'critical',
    subject: 'no heartbeat before the deadline',
    detail: null,
    openedAt: Date.UTC(2026, 0, 1, 12, 0, 0),
    ackedAt: null,
    resolvedAt: null,
  };
  const line = formatSyslog(n, 'tw', 1);
  assert.match(line, /^<82>1 \S+ tw tripwarden 1 alarm-remind \[tripwarden@32473 [^\]]*action="remind"\]/);
  assert.match(line, /critical web1 agent-missing still open after 1d 1h \(reminder\): no heartbeat/);
  const digest = formatDigestMail([n, { ...n, eventId: 10, alarmId: 5, host: 'web2', action: 'open', at: n.at, openedAt: n.at }], '/d');
  assert.equal(digest.subject, '[critical] digest: 1 alarms opened, 0 resolved, 1 reminders on 2 hosts');
  assert.match(digest.text, /agent-missing: 1 opened, 0 resolved, 1 reminders \(still open\)/);
  assert.match(digest.text, /#4 REMINDER \[critical\] web1 agent-missing/);
});

test('server.yml: remind is 24h unless set, 0s turns it off, less than a minute is refused naming the key; init writes it', () => {
  const dir = tempDir('tw-remind-cfg-');
  const cfg = join(dir, 'server.yml');
  const load = (text: string) => {
    writeFileSync(cfg, text);
    return loadServerConfig(cfg);
  };
  assert.equal(load('{}\n').remind, DAY);
  assert.equal(load('remind: 0s\n').remind, 0);
  assert.equal(load('remind: 4h\n').remind, 4 * HOUR);
  assert.throws(() => load('remind: 30s\n'), /remind.*0s \(off\) or at least 1m/);
  assert.throws(() => load('remind: soon\n'), /remind/);
  const text = defaultServerConfigText('0.0.0.0:7443', { instance: 'alpha' });
  assert.match(text, /^remind: 24h$/m);
  assert.equal(load(text).remind, DAY);
});

test('serve looks for due reminders every 10 s, not on every tick', async (t) => {
  const { db, cleanup } = await openTestDb('sqlite');
  t.after(cleanup);
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const alarms = new AlarmStore(db);
  await alarms.open('web1', 'agent-missing', 'no heartbeat before the deadline', clock.now());
  const r = new AlarmReminders(db, 60_000);
  clock.advance(59_000);
  assert.equal(await r.tick(clock.now()), 0, 'not due yet: looked');
  clock.advance(1000);
  assert.equal(await r.tick(clock.now()), 0, 'due, but the last look was 1 s ago');
  clock.advance(REMIND_LOOK_MS - 1000);
  assert.equal(await r.tick(clock.now()), 1);
  assert.equal(await r.pass(clock.now()), 0, 'a pass does not write it twice');
});

test('a warning raised to critical a day after it opened is reminded of a period after the raise, not with it', async (t) => {
  const { db, cleanup } = await openTestDb('sqlite');
  t.after(cleanup);
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const alarms = new AlarmStore(db);
  await alarms.raise('web1', 'agent-impersonated', 'web1', clock.now(), { evidence: ['no-exe-hash'] }, 'warning');
  const r = new AlarmReminders(db, DAY);
  clock.advance(2 * DAY);
  assert.equal(await r.pass(clock.now()), 0, 'a warning: none');
  await alarms.raise('web1', 'agent-impersonated', 'web1', clock.now(), { evidence: ['no-exe-hash', 'sequence-jump'] }, 'critical');
  assert.equal(await r.pass(clock.now()), 0, 'the raise itself was just sent');
  clock.advance(DAY - 1000);
  assert.equal(await r.pass(clock.now()), 0);
  clock.advance(1000);
  assert.equal(await r.pass(clock.now()), 1, 'a period after the raise');
  assert.deepEqual(await reminderEvents(db), [3], 'numbered by the periods since it opened');
});
