import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DeliveryError } from '../../../server/alarms/channels/channel.ts';
import type { MailText } from '../../../server/alarms/channels/mail-format.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { ReportMailer } from '../../../server/reports/report-mailer.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

test('the daily report is mailed once a day from its hour on, and retried while SMTP is down', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-rm-'));
  const db = openDatabase(join(dir, 'db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  db.prepare(`INSERT INTO hosts (host, enrolled_at) VALUES ('a', 0)`).run();
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
