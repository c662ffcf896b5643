import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import type { Queryable, SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';
import { tempDir } from '../../helpers/temp.ts';

async function addHost(db: Queryable, host: string, now: number, grp = 'web'): Promise<void> {
  await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', [host, grp, now]);
}

function worker(db: SqlDb, clock: FakeClock, port: number, dir: string, extra: { perMinute?: number } = {}) {
  const channel = new MailChannel({
    smtp: { host: '127.0.0.1', port, secure: false, from: 'tripwarden@test.example', to: 'security@test.example' },
    dir,
    perMinute: extra.perMinute,
    transportOverrides: { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 },
  });
  return new OutboxWorker(new Outbox(db, channel.name), channel, { clock, log: silentLogger(), backoffMs: 5000, maxBackoffMs: 60_000 });
}

/** A port nothing listens on (bound then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describeEngines('the mail outbox', ({ engine, open }) => {
  async function setup(): Promise<{ dir: string; db: SqlDb; clock: FakeClock; alarms: AlarmStore }>;
  async function setup(t: { after: (fn: () => unknown) => void }, reopen: true): Promise<{ dir: string; db: SqlDb; target: string; clock: FakeClock; alarms: AlarmStore }>;
  async function setup(t?: { after: (fn: () => unknown) => void }, reopen?: true) {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const dir = tempDir('tw-mail-');
    if (!reopen) {
      const db = await open();
      return { dir, db, clock, alarms: new AlarmStore(db) };
    }
    // A store the test may close itself (a restart): closing twice would skip removing it (a second pool end throws).
    const made = await openTestDb(engine);
    const close = made.db.close.bind(made.db);
    let closing: Promise<void> | undefined;
    made.db.close = () => (closing ??= close());
    t!.after(() => made.cleanup());
    return { dir, db: made.db, target: made.target, clock, alarms: new AlarmStore(made.db) };
  }

  test('an alarm opening reaches the security address once, with severity, host and kind first in the subject', async (t) => {
    const { dir, db, clock, alarms } = await setup();
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    await addHost(db, 'web1', clock.now());
    const id = (await alarms.open('web1', 'file-changed', '/usr/sbin/cron changed', clock.now(), { path: '/usr/sbin/cron', old: 'sha256:aaa', new: 'sha256:bbb' }))!;
    const w = worker(db, clock, port, dir);
    t.after(() => w.stop());

    const r = await w.runOnce();
    assert.equal(r.sent, 1);
    const [mail] = await peer.waitFor(1);
    assert.match(mail!.subject!, /^\[critical\] web1 file-changed: /);
    assert.equal(mail!.to && !Array.isArray(mail!.to) ? mail!.to.text : '', 'security@test.example');
    const body = mail!.text!;
    assert.match(body, /Alarm \d+ opened on web1 at 2026-01-01T12:00:00.000Z/);
    assert.match(body, /old: sha256:aaa\n\s+new: sha256:bbb/);
    assert.ok(body.includes(`ack ${id} --dir ${dir}`), 'the mail says how to acknowledge');
    assert.ok(body.includes(`accept web1 /usr/sbin/cron --dir ${dir}`), 'the mail says how to accept');

    assert.equal((await w.runOnce()).sent, 0, 'a second pass sends nothing');
    await alarms.resolve('web1', 'file-changed', clock.now() + 1000);
    clock.advance(1000);
    await w.runOnce();
    const mails = await peer.waitFor(2);
    assert.match(mails[1]!.subject!, /^\[critical\] web1 file-changed resolved: /);
    assert.equal(mails.length, 2);
  });

  test('with the SMTP peer down the mail waits with backoff, and arrives once when the peer is back', async (t) => {
    const { dir, db, clock, alarms } = await setup();
    const port = await freePort();
    await addHost(db, 'db1', clock.now());
    await alarms.open('db1', 'agent-missing', 'no heartbeat before the deadline', clock.now(), { from: 'late', to: 'missing' });
    const w = worker(db, clock, port, dir);
    t.after(() => w.stop());

    const first = await w.runOnce();
    assert.equal(first.retried, 1);
    assert.equal(await w.outbox.depth(), 1);
    const row = (await db.get<{ attempts: number; next_attempt_at: number; last_error: string }>('SELECT attempts, next_attempt_at, last_error FROM deliveries'))!;
    assert.equal(row.attempts, 1);
    assert.equal(row.next_attempt_at, clock.now() + 5000);
    assert.match(row.last_error, /SMTP unavailable/);

    clock.advance(1000);
    assert.deepEqual(await w.runOnce(), { sent: 0, retried: 0, failed: 0, digests: 0 }, 'not retried before its backoff');
    clock.advance(4000);
    assert.equal((await w.runOnce()).retried, 1, 'second attempt still fails');
    assert.equal((await db.get<{ next_attempt_at: number }>('SELECT next_attempt_at FROM deliveries'))!.next_attempt_at, clock.now() + 10_000, 'backoff doubles');

    const peer = new SmtpPeer();
    await peer.start(port);
    t.after(() => peer.stop());
    clock.advance(10_000);
    assert.equal((await w.runOnce()).sent, 1);
    await peer.waitFor(1);
    clock.advance(60_000);
    await w.runOnce();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(peer.received.length, 1, 'the mail arrives once');
    assert.match(peer.received[0]!.subject!, /^\[critical\] db1 agent-missing: /);
    assert.equal(await w.outbox.depth(), 0);
  });

  test('the outbox survives a restart: a new worker on the reopened database sends what the old one did not', async (t) => {
    const { dir, clock, target, alarms, db } = await setup(t, true);
    await addHost(db, 'app1', clock.now());
    await alarms.open('app1', 'daemon-down', 'cron is not running', clock.now());
    const down = worker(db, clock, await freePort(), dir);
    await down.runOnce();
    // The process dies with a claim held: simulate by claiming and never finishing.
    clock.advance(5000);
    assert.deepEqual(await down.outbox.claim([1], clock.now()), [1]);
    await down.stop();
    await db.close();

    const db2 = openSqlDb(target, PG_MIGRATIONS);
    await db2.ready();
    t.after(() => db2.close());
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const w = worker(db2, clock, port, dir);
    t.after(() => w.stop());
    assert.equal((await w.runOnce()).sent, 0, 'a live claim is respected');
    clock.advance(300_001);
    assert.equal((await w.runOnce()).sent, 1, 'a stale claim is taken over');
    await peer.waitFor(1);
    assert.match(peer.received[0]!.subject!, /^\[critical\] app1 daemon-down: cron is not running/);
  });

  test('a claim held by a dead process of this instance is released at its next start; one of another instance is not', async () => {
    const { db, clock, alarms } = await setup();
    await addHost(db, 'app1', clock.now());
    await alarms.open('app1', 'daemon-down', 'cron is not running', clock.now());
    const alpha = new Outbox(db, 'mail', { instance: 'alpha' });
    await alpha.enlist(clock.now());
    // alpha claims and is killed before marking it sent.
    assert.deepEqual(await alpha.claim([1], clock.now()), [1]);
    assert.deepEqual(await new Outbox(db, 'mail', { instance: 'bravo' }).due(clock.now(), 10), [], 'the live claim holds');
    assert.equal(await new Outbox(db, 'mail', { instance: 'bravo' }).releaseOwnClaims(), 0, "bravo releases nothing of alpha's");
    const restarted = new Outbox(db, 'mail', { instance: 'alpha' });
    assert.equal(await restarted.releaseOwnClaims(), 1);
    assert.deepEqual(
      (await restarted.due(clock.now(), 10)).map((d) => d.eventId),
      [1],
      'due again at once, not after the 5-minute claim timeout',
    );
  });

  test('an alarm storm of 500 missing hosts becomes one digest mail per minute', async (t) => {
    const { dir, db, clock, alarms } = await setup();
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    await db.tx(async (tx) => {
      for (let i = 0; i < 500; i++) {
        await addHost(tx, `h${i}`, clock.now());
        await alarms.open(`h${i}`, 'agent-missing', 'no heartbeat before the deadline', clock.now(), { from: 'late', to: 'missing' }, undefined, tx);
      }
    });
    const w = worker(db, clock, port, dir);
    t.after(() => w.stop());

    const r = await w.runOnce();
    assert.deepEqual(r, { sent: 500, retried: 0, failed: 0, digests: 1 });
    await peer.waitFor(1);
    assert.match(peer.received[0]!.subject!, /^\[critical\] digest: 500 alarms opened, 0 resolved on 500 hosts/);
    assert.ok(peer.received[0]!.text!.includes('h499 agent-missing'));

    // More of the storm within the minute waits for the next digest.
    await db.tx(async (tx) => {
      for (let i = 0; i < 100; i++) await alarms.resolve(`h${i}`, 'agent-missing', clock.now() + 10_000, undefined, tx);
    });
    clock.advance(10_000);
    assert.equal((await w.runOnce()).sent, 0);
    clock.advance(50_000);
    assert.deepEqual(await w.runOnce(), { sent: 100, retried: 0, failed: 0, digests: 1 });
    await peer.waitFor(2);
    assert.match(peer.received[1]!.subject!, /digest: 0 alarms opened, 100 resolved on 100 hosts/);
    assert.equal(peer.received.length, 2);
  });

  test('a refused recipient is a permanent error: marked failed, not retried', async (t) => {
    const { dir, db, clock, alarms } = await setup();
    const peer = new SmtpPeer({
      onRcptTo: (_addr, _s, cb) => cb(Object.assign(new Error('no such mailbox'), { responseCode: 550 })),
    });
    const port = await peer.start();
    t.after(() => peer.stop());
    await addHost(db, 'web2', clock.now());
    await alarms.open('web2', 'replay', 'sequence number did not grow', clock.now());
    const w = worker(db, clock, port, dir);
    t.after(() => w.stop());
    assert.equal((await w.runOnce()).failed, 1);
    const row = (await db.get<{ state: string; last_error: string }>('SELECT state, last_error FROM deliveries'))!;
    assert.equal(row.state, 'failed');
    assert.match(row.last_error, /for good \(550\)/);
    clock.advance(3_600_000);
    assert.equal((await w.runOnce()).failed, 0);
    assert.equal(peer.received.length, 0);
  });

  test('two instances claim the same deliveries at once: each is claimed by one, and every alarm is mailed once', async (t) => {
    const { dir, db, target, clock, alarms } = await setup(t, true);
    // The second instance: its own connections to the same PostgreSQL database. On SQLite, one process with two
    // connections to a file would stall (a waiting BEGIN blocks the event loop the holder needs): both outboxes
    // share the one connection there, and their claims still interleave.
    let other = db;
    if (engine === 'postgres') {
      const second = openSqlDb(target, PG_MIGRATIONS);
      await second.ready();
      t.after(() => second.close());
      other = second;
    }
    await db.tx(async (tx) => {
      for (let i = 0; i < 200; i++) {
        await addHost(tx, `h${i}`, clock.now());
        await alarms.open(`h${i}`, 'agent-missing', 'no heartbeat before the deadline', clock.now(), null, undefined, tx);
      }
    });
    const a = new Outbox(db, 'mail');
    const b = new Outbox(other, 'mail');
    await Promise.all([a.enlist(clock.now()), b.enlist(clock.now())]);
    assert.equal(await a.depth(), 200, 'both passes enlisted each event once');
    const ids = (await a.due(clock.now(), 1000)).map((d) => d.eventId);
    assert.equal(ids.length, 200);
    // Both ask for every row, in opposite orders, several times at once.
    const claims = await Promise.all([a.claim(ids, clock.now()), b.claim([...ids].reverse(), clock.now()), a.claim(ids, clock.now()), b.claim(ids, clock.now())]);
    const all = claims.flat();
    assert.equal(new Set(all).size, all.length, 'no delivery claimed twice');
    assert.deepEqual(
      [...all].sort((x, y) => x - y),
      [...ids].sort((x, y) => x - y),
      'every delivery claimed by someone',
    );
    assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM deliveries WHERE attempts <> 1'))!.n, 0, 'each counted one attempt');

    // Workers on both instances, passes at once: every alarm reaches the peer once.
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    await addHost(db, 'solo', clock.now());
    for (let i = 0; i < 20; i++) await alarms.open('solo', 'file-changed', `/etc/f${i}`, clock.now(), { path: `/etc/f${i}` });
    clock.advance(300_001); // the claims above went stale: their rows are up for the workers too
    const w1 = worker(db, clock, port, dir, { perMinute: 1000 });
    const w2 = worker(other, clock, port, dir, { perMinute: 1000 });
    t.after(() => Promise.all([w1.stop(), w2.stop()]));
    const [r1, r2] = await Promise.all([w1.runOnce(), w2.runOnce()]);
    assert.equal(r1.sent + r2.sent, 220, `sent ${r1.sent} + ${r2.sent}`);
    await peer.waitFor(220);
    await new Promise((r) => setTimeout(r, 200));
    const subjects = peer.received.map((m) => m.subject ?? '');
    assert.equal(subjects.length, 220, 'one mail per alarm');
    assert.equal(new Set(subjects).size, 220, 'no alarm mailed twice');
    assert.equal(await a.depth(), 0);
  });
});
