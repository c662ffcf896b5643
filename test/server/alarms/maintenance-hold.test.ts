/**
 * A maintenance window holds change alarms: stored and shown at once, mailed
 * when the window ends if still open, never mailed when accepted inside it.
 * Liveness and tampering alarms are not held. Both engines, real SMTP peer,
 * the real mail channel and worker, a fake clock. The window is the host's
 * `maintenance_until`, which is all the outbox reads of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';
import { tempDir } from '../../helpers/temp.ts';

const H = 3_600_000;

async function setup(t: { after: (fn: () => unknown) => void }, db: SqlDb) {
  const clock = new FakeClock();
  const alarms = new AlarmStore(db);
  const addHost = (host: string) => db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', ?)`, [host, clock.now()]);
  const setMaintenance = (host: string, until: number | null) => db.run('UPDATE hosts SET maintenance_until = ? WHERE host = ?', [until, host]);
  const openKinds = async (host: string) => (await alarms.list({ open: true, host })).map((a) => a.kind).sort();
  const peer = new SmtpPeer();
  const port = await peer.start();
  t.after(() => peer.stop());
  const channel = new MailChannel({
    smtp: { host: '127.0.0.1', port, secure: false, from: 'tw@test.example', to: 'sec@test.example' },
    dir: tempDir('tw-hold-'),
    transportOverrides: { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 },
  });
  const w = new OutboxWorker(new Outbox(db, channel.name), channel, { clock, log: silentLogger() });
  t.after(() => w.stop());
  await addHost('web1');
  await addHost('web2');
  const subjects = () => peer.received.map((m) => m.subject ?? '');
  const state = () =>
    db.all(`SELECT d.state, d.held, e.action, a.subject FROM deliveries d JOIN alarm_events e ON e.id = d.event_id JOIN alarms a ON a.id = e.alarm_id ORDER BY d.event_id`);
  return { db, clock, alarms, setMaintenance, openKinds, w, peer, subjects, state };
}

describeEngines('maintenance holds', ({ open }) => {
  test('a change opened in a maintenance window is held until it ends, then mailed if still open', async (t) => {
    const s = await setup(t, await open());
    await s.setMaintenance('web1', s.clock.now() + H);
    await s.alarms.open('web1', 'file-changed', '/etc/nginx/nginx.conf', s.clock.now(), { path: '/etc/nginx/nginx.conf' });
    await s.alarms.open('web2', 'file-changed', '/etc/nginx/nginx.conf', s.clock.now(), { path: '/etc/nginx/nginx.conf' });
    assert.equal((await s.w.runOnce()).sent, 1, 'only the host outside maintenance is mailed');
    assert.deepEqual(s.subjects(), ['[critical] web2 file-changed: /etc/nginx/nginx.conf']);
    assert.deepEqual(await s.openKinds('web1'), ['file-changed'], 'the held alarm is open and shown');

    s.clock.advance(H - 1000);
    assert.equal((await s.w.runOnce()).sent, 0, 'still held a second before the window ends');
    s.clock.advance(1000);
    assert.equal((await s.w.runOnce()).sent, 1, 'mailed when the window ends');
    await s.peer.waitFor(2);
    assert.equal(s.subjects()[1], '[critical] web1 file-changed: /etc/nginx/nginx.conf');
  });

  test('a change opened and accepted inside the window is never mailed; ending the window early releases the rest', async (t) => {
    const s = await setup(t, await open());
    await s.setMaintenance('web1', s.clock.now() + H);
    await s.alarms.open('web1', 'file-changed', '/usr/sbin/nginx', s.clock.now(), { path: '/usr/sbin/nginx' });
    await s.alarms.open('web1', 'file-added', '/etc/cron.d/evil', s.clock.now(), { path: '/etc/cron.d/evil' });
    await s.w.runOnce();
    s.clock.advance(60_000);
    await s.alarms.resolve('web1', 'file-changed', s.clock.now());
    await s.w.runOnce();
    assert.deepEqual(s.subjects(), [], 'nothing mailed inside the window');
    await s.setMaintenance('web1', null);
    assert.equal((await s.w.runOnce()).sent, 1);
    await s.peer.waitFor(1);
    assert.deepEqual(s.subjects(), ['[critical] web1 file-added: /etc/cron.d/evil'], 'the change still open is mailed as soon as the window ends');
    assert.deepEqual(
      (await s.state()).map((r) => `${(r as { subject: string }).subject} ${(r as { action: string }).action} ${(r as { state: string }).state}`),
      ['/usr/sbin/nginx open dropped', '/etc/cron.d/evil open sent', '/usr/sbin/nginx resolve dropped'],
    );
  });

  test('tampering and clone alarms are not held by maintenance', async (t) => {
    const s = await setup(t, await open());
    await s.setMaintenance('web1', s.clock.now() + H);
    await s.alarms.open('web1', 'agent-tampered', 'agent executable changed', s.clock.now());
    await s.alarms.open('web1', 'identity-clone', 'two live connections with one certificate', s.clock.now());
    assert.equal((await s.w.runOnce()).sent, 2);
  });

  test('outside a window, an alarm that opens and clears within one pass is still mailed', async (t) => {
    const s = await setup(t, await open());
    await s.alarms.open('web1', 'file-changed', '/usr/sbin/cron', s.clock.now(), { path: '/usr/sbin/cron' });
    await s.alarms.resolve('web1', 'file-changed', s.clock.now());
    assert.equal((await s.w.runOnce()).sent, 2);
  });
});
