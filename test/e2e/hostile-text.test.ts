/**
 * Hostile text end to end: an alarm and a measured path carrying ESC, OSC,
 * C1 CSI, a bidi override and a newline that forges a "What to do" line are
 * planted in a real data dir; the real CLI (`report`, `alarms`, `hosts`,
 * `fleet`) and real mail through an SMTP peer must show them escaped.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MailChannel } from '../../server/alarms/channels/mail-channel.ts';
import { openServerContext } from '../../server/context.ts';
import { buildReport } from '../../server/reports/report.ts';
import { formatReportMail } from '../../server/reports/report-format.ts';
import { systemClock } from '../../shared/clock.ts';
import { initServer, serverCli } from '../helpers/cluster.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';

const HOSTILE = '/etc/x\x1b]0;owned\x07\u202e\x9b31m\nWhat to do: ignore this';
// Raw ESC, BEL, C1, bidi or separator characters: none may reach what a person reads.
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const FORGED = /^\s*What to do: ignore this/m;

const peer = new SmtpPeer();
let dir: string;
let alarmId: number;
let now: number;

before(async () => {
  await peer.start();
  dir = initServer().dir;
  const ctx = openServerContext(dir, systemClock);
  try {
    now = Date.now();
    const host = ctx.db!.prepare('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)');
    host.run('web1', 'web', now);
    host.run('web2', 'web', now);
    const measured = ctx.db!.prepare(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, 'file', ?, NULL, ?, ?)`);
    measured.run('web1', HOSTILE, JSON.stringify({ type: 'file', sha256: 'a'.repeat(64) }), now);
    measured.run('web2', HOSTILE, JSON.stringify({ type: 'symlink', target: HOSTILE }), now);
    alarmId = (await ctx.alarms.open('web1', 'file-changed', HOSTILE, now, { path: HOSTILE, old: 'a'.repeat(64), new: HOSTILE }, 'critical'))!;
  } finally {
    await ctx.close();
  }
});
after(() => peer.stop());

function assertSafe(text: string, what: string): void {
  assert.doesNotMatch(text, RAW, `${what}: a raw control or bidi character got through`);
  assert.doesNotMatch(text, FORGED, `${what}: a newline forged a line`);
  assert.ok(text.includes('\\x1b]0;owned\\x07\\u202e\\x9b31m\\nWhat to do: ignore this'), `${what}: the escaped form is shown`);
}

test('report, alarms and fleet print hostile paths escaped, on one line', () => {
  for (const args of [['report'], ['alarms'], ['fleet']]) {
    const r = serverCli([...args, '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assertSafe(r.stdout, args[0]!);
  }
});

test('--json prints no raw C1 or bidi character and parses to the planted value', () => {
  for (const args of [['report'], ['alarms'], ['fleet']]) {
    const r = serverCli([...args, '--dir', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, RAW, `${args[0]} --json`);
    assert.ok(JSON.stringify(JSON.parse(r.stdout)).includes(JSON.stringify(HOSTILE).slice(1, -1)), `${args[0]} --json keeps the value`);
  }
});

test('alarm mail and report mail through a real SMTP peer: subject and body escaped, no forged line', async () => {
  const channel = new MailChannel({
    smtp: { host: '127.0.0.1', port: peer.port, secure: false, from: 'tripwarden@test.example', to: 'security@test.example' },
    dir,
    transportOverrides: { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 },
  });
  const ctx = openServerContext(dir, systemClock);
  try {
    const a = (await ctx.alarms.list({ host: 'web1' })).find((x) => x.id === alarmId)!;
    await channel.send({
      eventId: 1,
      action: 'open',
      at: now,
      alarmId,
      host: a.host,
      group: 'web',
      kind: a.kind,
      severity: a.severity,
      subject: a.subject,
      detail: a.detail,
      openedAt: now,
      ackedAt: null,
      resolvedAt: null,
    });
    await channel.mail(formatReportMail(await buildReport(ctx.sql, ctx.hosts, now - 3_600_000, now + 1000)));
  } finally {
    await ctx.close();
    await channel.close();
  }
  const [alarm, report] = await peer.waitFor(2);
  assertSafe(alarm!.text!, 'alarm mail body');
  assert.doesNotMatch(alarm!.subject!, RAW, 'alarm mail subject');
  assert.ok(alarm!.subject!.includes('\\nWhat to do: ignore this'), 'the subject shows the newline escaped');
  const accept = alarm!.text!.split('\n').filter((l) => l.trim().startsWith('Accept:'));
  assert.equal(accept.length, 1);
  assert.ok(accept[0]!.includes(`accept web1 $'/etc/x\\x1b]0;owned\\x07\\u202e\\x9b31m\\nWhat to do: ignore this'`), accept[0]);
  assertSafe(report!.text!, 'report mail body');
});
