/**
 * One host's flood of alarms: past its limit, new alarms fold into one `alarm-flood` (counts per kind, a few
 * subjects each), so storage stays bounded; the server's own kinds still open; the flood resolves once
 * quiet. The outbox is fair across hosts and critical first, so another host's critical alarm reaches a
 * real SMTP peer within a minute. The flood is driven through the baseline store directly, on a fake clock
 * (the events an agent's connection carries, 2,000 new files each); test/e2e/alarm-flood.test.ts sends it
 * over the wire.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLOOD_LIMITS, FLOOD_SUBJECT } from '../../../server/alarms/alarm-flood.ts';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function setup(db: SqlDb, limits = FLOOD_LIMITS) {
  const clock = new FakeClock(T0);
  const alarms = new AlarmStore(db, limits);
  // Made when a test first drives it: the outbox tests need only the alarm store.
  let made: BaselineStore | undefined;
  const baselines = () => (made ??= new BaselineStore(db, alarms, new GroupPeers(db)));
  const addHost = async (host: string) => {
    await db.run("INSERT INTO hosts (host, grp, enrolled_at, cert_serial) VALUES (?, 'web', ?, 'AA')", [host, T0]);
    await baselines().applyReport(host, { files: [], daemons: [], mounts: [] }, clock.now());
  };
  const count = async (table: string, host: string) =>
    (await db.get<{ n: number }>(
      table === 'alarms' ? 'SELECT COUNT(*) AS n FROM alarms WHERE host = ?' : 'SELECT COUNT(*) AS n FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.host = ?',
      [host],
    ))!.n;
  return { db, clock, alarms, baselines, addHost, count };
}

/** `n` new files in a guarded directory of `host`, as events of 2,000 each (the wire's largest). */
async function flood(s: ReturnType<typeof setup>, host: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 2000) {
    const files = Array.from({ length: Math.min(2000, n - from) }, (_, i) => fileEntry(`/srv/drop/f${from + i}`, { class: 'critical' }));
    await s.baselines().applyEvent(host, { files, gone: [] }, s.clock.now());
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

describeEngines('alarm floods', ({ engine, open }) => {
  // On PostgreSQL each file of an event costs the baseline store a few round trips: 30,000 took minutes there.
  const N = engine === 'postgres' ? 4_000 : 30_000;
  test(`${N.toLocaleString('en')} alarms from one host: at most the burst stored, the rest folded; another host's critical alarm mailed within a minute`, async (t) => {
    const s = setup(await open());
    await s.addHost('flooder');
    await s.addHost('victim');
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const w = worker(s, port);
    t.after(() => w.stop());

    await flood(s, 'flooder', N);
    // The worst moment for the other host: the flood's first mail has just gone out.
    await w.runOnce();
    const mailsBefore = peer.received.length;
    assert.ok(mailsBefore >= 1);
    s.clock.advance(1000);
    await s.baselines().applyEvent('victim', { files: [fileEntry('/usr/sbin/sshd-backdoor', { class: 'critical' })], gone: [] }, s.clock.now());
    const stored = (await s.alarms.list({ open: true, host: 'victim' })).find((a) => a.kind === 'file-added');
    assert.equal(stored?.severity, 'critical');

    let delay: number | null = null;
    for (let pass = 0; pass < 120 && delay === null; pass++) {
      await w.runOnce();
      if (peer.received.slice(mailsBefore).some((m) => `${m.subject}\n${m.text}`.includes('victim'))) delay = s.clock.now() - Date.parse(stored!.openedAt);
      else s.clock.advance(1000);
    }
    assert.ok(delay !== null && delay <= 60_000, `the victim's mail waited ${delay} ms`);

    // Storage bounded: the burst, and one flood alarm holding the rest (its counts written on serve's tick).
    await s.alarms.settleFloods(s.clock.now());
    assert.equal(await s.count('alarms', 'flooder'), FLOOD_LIMITS.burst + 1);
    assert.equal(await s.count('alarm_events', 'flooder'), FLOOD_LIMITS.burst + 1);
    const f = (await s.alarms.list({ open: true, host: 'flooder' })).find((a) => a.kind === 'alarm-flood');
    assert.equal(f?.subject, FLOOD_SUBJECT);
    assert.equal(f?.severity, 'critical');
    const d = f?.detail as { folded: number; kinds: Record<string, { count: number; critical: number; examples: string[] }> };
    assert.equal(d.folded, N - FLOOD_LIMITS.burst);
    assert.equal(d.kinds['file-added']?.count, N - FLOOD_LIMITS.burst);
    assert.equal(d.kinds['file-added']?.examples.length, FLOOD_LIMITS.examples);
  });

  test("the outbox takes every host's first before any host's second, critical first", async () => {
    const s = setup(await open(), { ...FLOOD_LIMITS, burst: 1e9 });
    // Hosts without the baseline store: the outbox reads only the hosts table.
    for (const h of ['a', 'b']) await s.db.run("INSERT INTO hosts (host, grp, enrolled_at, cert_serial) VALUES (?, 'web', ?, 'AA')", [h, T0]);
    await s.db.tx(async (tx) => {
      for (let i = 0; i < 3000; i++) await s.alarms.open('a', 'port-opened', `tcp/0.0.0.0:${i}`, T0, undefined, undefined, tx);
    });
    const warn = (await s.alarms.open('b', 'port-opened', 'tcp/0.0.0.0:22', T0))!;
    const crit = (await s.alarms.open('b', 'file-changed', '/usr/bin/passwd', T0))!;
    const o = new Outbox(s.db, 'mail');
    await o.enlist(T0);
    const eventOf = async (alarmId: number) => (await s.db.get<{ id: number }>('SELECT id FROM alarm_events WHERE alarm_id = ?', [alarmId]))!.id;
    const due = (await o.due(T0, 4)).map((d) => d.eventId);
    assert.equal(due[0], await eventOf(crit), "b's critical alarm first");
    assert.ok(due.includes(await eventOf(warn)), "b's second before a's third");
    assert.equal(due.length, 4);
  });

  test('a flood resolves once quiet; the server kinds still open on their own; a critical alarm raises a warning flood', async () => {
    const s = setup(await open(), { burst: 3, perMinute: 60, quietMs: 60_000, examples: 2 });
    await s.db.run("INSERT INTO hosts (host, grp, enrolled_at, cert_serial) VALUES ('h', 'web', ?, 'AA')", [T0]);
    for (let i = 0; i < 5; i++) await s.alarms.open('h', 'port-opened', `tcp/0.0.0.0:${i}`, T0);
    assert.equal(await s.count('alarms', 'h'), 4);
    const flood = async () => (await s.alarms.list({ host: 'h' })).find((a) => a.kind === 'alarm-flood');
    assert.equal((await flood())?.severity, 'warning');
    assert.equal(await s.alarms.open('h', 'port-opened', 'tcp/0.0.0.0:0', T0), null, 'one open already is not folded again');
    assert.equal(await s.alarms.settleFloods(T0), 0);
    assert.equal(((await flood())!.detail as { folded: number }).folded, 2);
    const opens = async () => (await s.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = ? AND action = 'open'`, [(await flood())!.id]))!.n;
    await s.alarms.open('h', 'file-changed', '/usr/bin/passwd', T0 + 1000);
    assert.equal((await flood())?.severity, 'critical');
    assert.equal(await opens(), 2, 'the rise to critical is sent again');
    assert.ok((await s.alarms.open('h', 'agent-missing', 'no heartbeat before the deadline', T0 + 2000)) !== null);
    // A new store over the same file (a restarted server) carries on the open flood, whatever its own allowance.
    const again = new AlarmStore(s.db, { burst: 100, perMinute: 60, quietMs: 60_000, examples: 2 });
    const rows = await s.count('alarms', 'h');
    assert.equal(await again.open('h', 'port-opened', 'tcp/0.0.0.0:50', T0 + 3000), null);
    assert.equal(await s.count('alarms', 'h'), rows);
    await again.settleFloods(T0 + 3000);
    assert.equal(((await flood())!.detail as { folded: number }).folded, 4);
    assert.equal(await again.settleFloods(T0 + 30_000), 0, 'not quiet yet');
    assert.equal(await again.settleFloods(T0 + 63_000), 1);
    assert.ok((await flood())?.resolvedAt);
    assert.ok((await again.open('h', 'port-opened', 'tcp/0.0.0.0:51', T0 + 64_000)) !== null, 'after the flood, alarms open on their own again');
  });
});
