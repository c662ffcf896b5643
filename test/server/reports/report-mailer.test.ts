import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryError } from '../../../server/alarms/channels/channel.ts';
import type { MailText } from '../../../server/alarms/channels/mail-format.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { ReportMailer } from '../../../server/reports/report-mailer.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

describeEngines('the daily report mail', ({ engine, open }) => {
  test('the daily report is mailed once a day from its hour on, and retried while SMTP is down', async () => {
    const db = await open();
    await db.run(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', 0)`);
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 6, 0, 0));
    const sent: MailText[] = [];
    let down = false;
    const m = new ReportMailer(
      db,
      new HostStore(db),
      async (mail) => {
        if (down) throw new DeliveryError('SMTP unavailable', false);
        sent.push(mail);
        return { messageId: String(sent.length) };
      },
      { clock, log: silentLogger(), hourUtc: 7, backoffMs: 60_000 },
    );

    assert.equal(await m.runOnce(), 0, 'not before 07:00');
    clock.advance(3_600_000);
    assert.equal(await m.runOnce(), 1);
    assert.match(sent[0]!.subject, /report 2026-01-01: 1 hosts/);
    assert.match(sent[0]!.text, /Quiet hosts \(no alarms\) \(0\)|Errors and missing hosts \(0\)/);
    clock.advance(3_600_000);
    assert.equal(await m.runOnce(), 0, 'once a day');

    down = true;
    clock.advance(23 * 3_600_000);
    assert.equal(await m.runOnce(), 0);
    clock.advance(30_000);
    assert.equal(await m.runOnce(), 0, 'waits for its backoff');
    down = false;
    clock.advance(30_000);
    assert.equal(await m.runOnce(), 1, 'sent when SMTP is back');
    assert.match(sent[1]!.subject, /report 2026-01-02/);
  });

  test('two instances run the report job at once: the day is mailed once', async (t) => {
    const made = await openTestDb(engine);
    t.after(() => made.cleanup());
    // The second instance: its own connections to the same PostgreSQL database. On SQLite, one process with two
    // connections to a file would stall (a waiting BEGIN blocks the event loop the holder needs): both mailers
    // share the one connection there, and their passes still interleave.
    let other: SqlDb = made.db;
    if (engine === 'postgres') {
      other = openSqlDb(made.target, PG_MIGRATIONS);
      await other.ready();
      const second = other;
      t.after(() => second.close());
    }
    await made.db.run(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', 0)`);
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 8, 0, 0));
    const sent: string[] = [];
    const mailer = (db: SqlDb) =>
      new ReportMailer(
        db,
        new HostStore(db),
        async (mail) => {
          // A slow SMTP server: the other instance's pass runs meanwhile.
          await new Promise((r) => setTimeout(r, 50));
          sent.push(mail.subject);
          return { messageId: String(sent.length) };
        },
        { clock, log: silentLogger(), hourUtc: 7 },
      );
    const a = mailer(made.db);
    const b = mailer(other);
    const counts = await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    assert.equal(
      counts.reduce((x, y) => x + y, 0),
      1,
      `passes mailed ${counts.join(', ')}`,
    );
    assert.equal(sent.length, 1, 'one report');
    assert.match(sent[0]!, /report 2026-01-01/);
    clock.advance(3_600_000);
    assert.deepEqual(await Promise.all([a.runOnce(), b.runOnce()]), [0, 0], 'and not again later that day');
    const run = await made.db.get<{ n: number; sent: number }>('SELECT COUNT(*) AS n, COUNT(sent_at) AS sent FROM report_runs');
    assert.deepEqual(run, { n: 1, sent: 1 });
  });
});
