/**
 * One host's flood of alarms: past its limit, new alarms fold into one `alarm-flood` (counts per kind, a few
 * subjects each), so storage stays bounded; the server's own kinds still open; the flood resolves once
 * quiet. The outbox is fair across hosts and critical first, so another host's critical alarm reaches a
 * real SMTP peer within a minute. The flood is driven through the baseline store directly, on a fake clock
 * (the events an agent's connection carries, 2,000 new files each); test/e2e/alarm-flood.test.ts sends it
 * over the wire.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FLOOD_LIMITS, FLOOD_SUBJECT } from '../../../server/alarms/alarm-flood.ts';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { type Db, openDatabase } from '../../../server/storage/db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';
import { tempDir } from '../../helpers/temp.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function setup(limits = FLOOD_LIMITS) {
  const db: Db = openDatabase(join(tempDir('tw-flood-'), 'tripwarden.db'));
  const clock = new FakeClock(T0);
  const alarms = new AlarmStore(db, limits);
  const baselines = new BaselineStore(db, alarms, new GroupPeers(db));
  const addHost = (host: string) => {
    db.prepare("INSERT INTO hosts (host, grp, enrolled_at, cert_serial) VALUES (?, 'web', ?, 'AA')").run(host, T0);
    baselines.applyReport(host, { files: [], daemons: [], mounts: [] }, clock.now());
  };
  const count = (table: string, host: string) =>
    (
      db
        .prepare(
          table === 'alarms' ? 'SELECT COUNT(*) AS n FROM alarms WHERE host = ?' : 'SELECT COUNT(*) AS n FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.host = ?',
        )
        .get(host) as { n: number }
    ).n;
  return { db, clock, alarms, baselines, addHost, count };
}

/** `n` new files in a guarded directory of `host`, as events of 2,000 each (the wire's largest). */
function flood(s: ReturnType<typeof setup>, host: string, n: number): void {
  for (let from = 0; from < n; from += 2000) {
    const files = Array.from({ length: Math.min(2000, n - from) }, (_, i) => fileEntry(`/srv/drop/f${from + i}`, { class: 'critical' }));
    s.baselines.applyEvent(host, { files, gone: [] }, s.clock.now());
  }
}

function worker(s: ReturnType<typeof setup>, port: number) {
  const channel = new MailChannel({
    smtp: { host: '127.0.0.1', port, secure: false, from: 'tripwarden@test.example', to: 'security@test.example' },
    dir: '/var/lib/tripwarden',
    transportOverrides: { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 },
  });
  return new OutboxWorker(new Outbox(s.db, channel.name), channel, { clock: s.clock, log: silentLogger() });
}

test("30,000 alarms from one host: at most the burst stored, the rest folded; another host's critical alarm mailed within a minute", async (t) => {
  const s = setup();
  s.addHost('flooder');
  s.addHost('victim');
  const peer = new SmtpPeer();
  const port = await peer.start();
  t.after(() => peer.stop());
  const w = worker(s, port);
  t.after(() => w.stop());

  flood(s, 'flooder', 30_000);
  // The worst moment for the other host: the flood's first mail has just gone out.
  await w.runOnce();
  const mailsBefore = peer.received.length;
  assert.ok(mailsBefore >= 1);
  s.clock.advance(1000);
  s.baselines.applyEvent('victim', { files: [fileEntry('/usr/sbin/sshd-backdoor', { class: 'critical' })], gone: [] }, s.clock.now());
  const stored = s.alarms.list({ open: true, host: 'victim' }).find((a) => a.kind === 'file-added');
  assert.equal(stored?.severity, 'critical');

  let delay: number | null = null;
  for (let pass = 0; pass < 120 && delay === null; pass++) {
    await w.runOnce();
    if (peer.received.slice(mailsBefore).some((m) => `${m.subject}\n${m.text}`.includes('victim'))) delay = s.clock.now() - Date.parse(stored!.openedAt);
    else s.clock.advance(1000);
  }
  assert.ok(delay !== null && delay <= 60_000, `the victim's mail waited ${delay} ms`);

  // Storage bounded: the burst, and one flood alarm holding the rest (its counts written on serve's tick).
  s.alarms.settleFloods(s.clock.now());
  assert.equal(s.count('alarms', 'flooder'), FLOOD_LIMITS.burst + 1);
  assert.equal(s.count('alarm_events', 'flooder'), FLOOD_LIMITS.burst + 1);
  const f = s.alarms.list({ open: true, host: 'flooder' }).find((a) => a.kind === 'alarm-flood');
  assert.equal(f?.subject, FLOOD_SUBJECT);
  assert.equal(f?.severity, 'critical');
  const d = f?.detail as { folded: number; kinds: Record<string, { count: number; critical: number; examples: string[] }> };
  assert.equal(d.folded, 30_000 - FLOOD_LIMITS.burst);
  assert.equal(d.kinds['file-added']?.count, 30_000 - FLOOD_LIMITS.burst);
  assert.equal(d.kinds['file-added']?.examples.length, FLOOD_LIMITS.examples);
});

test("the outbox takes every host's first before any host's second, critical first", () => {
  const s = setup({ ...FLOOD_LIMITS, burst: 1e9 });
  s.addHost('a');
  s.addHost('b');
  for (let i = 0; i < 3000; i++) s.alarms.open('a', 'port-opened', `tcp/0.0.0.0:${i}`, T0);
  const warn = s.alarms.open('b', 'port-opened', 'tcp/0.0.0.0:22', T0)!;
  const crit = s.alarms.open('b', 'file-changed', '/usr/bin/passwd', T0)!;
  const o = new Outbox(s.db, 'mail');
  o.enlist(T0);
  const eventOf = (alarmId: number) => (s.db.prepare(`SELECT id FROM alarm_events WHERE alarm_id = ?`).get(alarmId) as { id: number }).id;
  const due = o.due(T0, 4).map((d) => d.eventId);
  assert.equal(due[0], eventOf(crit), "b's critical alarm first");
  assert.ok(due.includes(eventOf(warn)), "b's second before a's third");
  assert.equal(due.length, 4);
});

test('a flood resolves once quiet; the server kinds still open on their own; a critical alarm raises a warning flood', () => {
  const s = setup({ burst: 3, perMinute: 60, quietMs: 60_000, examples: 2 });
  s.addHost('h');
  for (let i = 0; i < 5; i++) s.alarms.open('h', 'port-opened', `tcp/0.0.0.0:${i}`, T0);
  assert.equal(s.count('alarms', 'h'), 4);
  const flood = () => s.alarms.list({ host: 'h' }).find((a) => a.kind === 'alarm-flood');
  assert.equal(flood()?.severity, 'warning');
  assert.equal(s.alarms.open('h', 'port-opened', 'tcp/0.0.0.0:0', T0), null, 'one open already is not folded again');
  assert.equal(s.alarms.settleFloods(T0), 0);
  assert.equal((flood()!.detail as { folded: number }).folded, 2);
  const opens = () => (s.db.prepare(`SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = ? AND action = 'open'`).get(flood()!.id) as { n: number }).n;
  s.alarms.open('h', 'file-changed', '/usr/bin/passwd', T0 + 1000);
  assert.equal(flood()?.severity, 'critical');
  assert.equal(opens(), 2, 'the rise to critical is sent again');
  assert.ok(s.alarms.open('h', 'agent-missing', 'no heartbeat before the deadline', T0 + 2000) !== null);
  // A new store over the same file (a restarted server) carries on the open flood, whatever its own allowance.
  const again = new AlarmStore(s.db, { burst: 100, perMinute: 60, quietMs: 60_000, examples: 2 });
  const rows = s.count('alarms', 'h');
  assert.equal(again.open('h', 'port-opened', 'tcp/0.0.0.0:50', T0 + 3000), null);
  assert.equal(s.count('alarms', 'h'), rows);
  again.settleFloods(T0 + 3000);
  assert.equal((flood()!.detail as { folded: number }).folded, 4);
  assert.equal(again.settleFloods(T0 + 30_000), 0, 'not quiet yet');
  assert.equal(again.settleFloods(T0 + 63_000), 1);
  assert.ok(flood()?.resolvedAt);
  assert.ok(again.open('h', 'port-opened', 'tcp/0.0.0.0:51', T0 + 64_000) !== null, 'after the flood, alarms open on their own again');
});
