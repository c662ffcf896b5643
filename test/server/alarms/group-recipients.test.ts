import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import type { AlarmChannel } from '../../../server/alarms/channels/channel.ts';
import { MailChannel } from '../../../server/alarms/channels/mail-channel.ts';
import { createChannels } from '../../../server/alarms/channels/registry.ts';
import { WEBHOOK_HEADERS, WebhookChannel, webhookSignature } from '../../../server/alarms/channels/webhook-channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import { testMailCommand } from '../../../server/cli/test-mail.ts';
import { loadServerConfig } from '../../../server/config.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { httpReceiver } from '../../helpers/http-receiver.ts';
import { SmtpPeer } from '../../helpers/smtp-peer.ts';
import { tempDir } from '../../helpers/temp.ts';

const SMTP = { host: '127.0.0.1', secure: false, from: 'tripwarden@test.example', to: 'security@test.example' };
const OVERRIDES = { ignoreTLS: true, connectionTimeout: 2000, greetingTimeout: 2000 };

/** A worker on `channel`'s own outbox, kept to its group as serve does. */
function workerFor(db: SqlDb, clock: FakeClock, channel: AlarmChannel): OutboxWorker {
  return new OutboxWorker(new Outbox(db, channel.name, { group: channel.group }), channel, { clock, log: silentLogger() });
}

const toText = (m: ParsedMail): string => (m.to && !Array.isArray(m.to) ? m.to.text : '');

describeEngines('per-group recipients', ({ open }) => {
  async function setup() {
    const db = await open();
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    for (const [host, grp] of [
      ['web1', 'web'],
      ['db1', 'db'],
      ['misc1', 'misc'],
    ]) {
      await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', [host, grp, clock.now()]);
    }
    return { db, clock, alarms: new AlarmStore(db), dir: tempDir('tw-groups-') };
  }

  test("a group's addresses get its hosts' alarms and no other group's, while the security address gets every one", async (t) => {
    const { db, clock, alarms, dir } = await setup();
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const smtp = { ...SMTP, port };
    const channels = [
      new MailChannel({ smtp, dir, transportOverrides: OVERRIDES }),
      new MailChannel({ smtp, dir, group: 'web', to: ['web-team@test.example', 'oncall@test.example'], transportOverrides: OVERRIDES }),
      new MailChannel({ smtp, dir, group: 'db', to: ['dba@test.example'], transportOverrides: OVERRIDES }),
    ];
    assert.deepEqual(
      channels.map((c) => c.name),
      ['mail', 'mail:web', 'mail:db'],
    );
    const workers = channels.map((c) => workerFor(db, clock, c));
    t.after(() => Promise.all(workers.map((w) => w.stop())));

    await alarms.open('web1', 'file-changed', '/etc/nginx/nginx.conf changed', clock.now(), { path: '/etc/nginx/nginx.conf' });
    await alarms.open('db1', 'daemon-down', 'postgres is not running', clock.now());
    await alarms.open('misc1', 'agent-missing', 'no heartbeat before the deadline', clock.now());
    // The server's own alarm: its host is an instance name, in no group.
    await alarms.open('alpha', 'server-instance-down', 'alpha stopped renewing its lease', clock.now());

    const sent = [];
    for (const w of workers) sent.push((await w.runOnce()).sent);
    assert.deepEqual(sent, [4, 1, 1], 'security: all four; web: its one; db: its one');
    const mails = await peer.waitFor(6);
    const to = (addr: string) =>
      mails
        .filter((m) => toText(m).includes(addr))
        .map((m) => m.subject)
        .sort();
    assert.equal(to('security@test.example').length, 4);
    assert.deepEqual(to('web-team@test.example'), ['[critical] web1 file-changed: /etc/nginx/nginx.conf changed']);
    assert.deepEqual(to('oncall@test.example'), to('web-team@test.example'), 'every address of the group, on one mail');
    assert.deepEqual(to('dba@test.example'), ['[critical] db1 daemon-down: postgres is not running']);

    // Resolutions follow the same route, once per channel.
    clock.advance(1000);
    await alarms.resolve('web1', 'file-changed', clock.now());
    const again = [];
    for (const w of workers) again.push((await w.runOnce()).sent);
    assert.deepEqual(again, [1, 1, 0]);
    for (const w of workers) assert.equal((await w.runOnce()).sent, 0, 'nothing twice');
    assert.equal((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = 'mail:db'`))!.n, 1, "the db channel holds rows for its group's events only");

    // A host moved to another group: its alarms from then on go to the new group's addresses.
    await db.run('UPDATE hosts SET grp = ? WHERE host = ?', ['web', 'db1']);
    await alarms.open('db1', 'file-changed', '/etc/postgresql/pg_hba.conf changed', clock.now(), { path: '/etc/postgresql/pg_hba.conf' });
    const moved = [];
    for (const w of workers) moved.push((await w.runOnce()).sent);
    assert.deepEqual(moved, [1, 1, 0], 'security and web, no longer db');
  });

  test("a group's change alarm is held by its host's maintenance window on the group's channel too", async (t) => {
    const { db, clock, alarms, dir } = await setup();
    const peer = new SmtpPeer();
    const port = await peer.start();
    t.after(() => peer.stop());
    const web = new MailChannel({ smtp: { ...SMTP, port }, dir, group: 'web', to: ['web-team@test.example'], transportOverrides: OVERRIDES });
    const w = workerFor(db, clock, web);
    t.after(() => w.stop());
    await db.run('UPDATE hosts SET maintenance_until = ? WHERE host = ?', [clock.now() + 3_600_000, 'web1']);
    await alarms.open('web1', 'file-changed', '/etc/hosts changed', clock.now(), { path: '/etc/hosts' });
    assert.equal((await w.runOnce()).sent, 0, 'held while the window lasts');
    clock.advance(3_600_001);
    assert.equal((await w.runOnce()).sent, 1, 'mailed to the group when the window ends');
    assert.equal(toText((await peer.waitFor(1))[0]!), 'web-team@test.example');
  });

  test("a group's webhook gets its group's alarms signed with its own secret; the main webhook gets every alarm", async (t) => {
    const { db, clock, alarms, dir } = await setup();
    const main = await httpReceiver(t);
    const web = await httpReceiver(t);
    const mainSecret = 'main-secret-of-enough-length-0001';
    const webSecret = 'web-team-secret-of-enough-length-2';
    writeFileSync(join(dir, 'main-secret'), `${mainSecret}\n`);
    writeFileSync(join(dir, 'web-secret'), `${webSecret}\n`);
    const cfg = join(dir, 'server.yml');
    writeFileSync(
      cfg,
      `webhook: { url: '${main.url}', secretFile: ${join(dir, 'main-secret')}, timeout: 2s, groups: { web: { url: '${web.url}', secretFile: ${join(dir, 'web-secret')} } } }\n`,
    );
    const config = loadServerConfig(cfg);
    assert.equal(config.webhook?.groups.web?.timeout, undefined, "a group's timeout defaults to the main one's");
    const channels = createChannels({ config, dir });
    assert.deepEqual(
      channels.map((c) => [c.name, c.group]),
      [
        ['webhook', undefined],
        ['webhook:web', 'web'],
      ],
    );
    assert.ok(channels.every((c) => c instanceof WebhookChannel));
    const workers = channels.map((c) => workerFor(db, clock, c));
    t.after(() => Promise.all(workers.map((w) => w.stop())));

    const webId = (await alarms.open('web1', 'port-opened', 'tcp/0.0.0.0:4444', clock.now()))!;
    await alarms.open('db1', 'daemon-down', 'postgres is not running', clock.now());
    for (const w of workers) await w.runOnce();

    assert.equal(main.hits.length, 2);
    assert.equal(web.hits.length, 1, 'the web endpoint gets the web host alarm only');
    const hit = web.hits[0]!;
    const ts = String(hit.headers[WEBHOOK_HEADERS.timestamp]);
    assert.equal(hit.headers[WEBHOOK_HEADERS.signature], webhookSignature(webSecret, ts, hit.body), "signed with the group's secret");
    assert.notEqual(hit.headers[WEBHOOK_HEADERS.signature], webhookSignature(mainSecret, ts, hit.body));
    const body = JSON.parse(hit.body);
    assert.deepEqual([body.alarm.id, body.alarm.host, body.alarm.group], [webId, 'web1', 'web']);
    for (const h of main.hits) {
      const t2 = String(h.headers[WEBHOOK_HEADERS.timestamp]);
      assert.equal(h.headers[WEBHOOK_HEADERS.signature], webhookSignature(mainSecret, t2, h.body));
    }
  });
});

test('server.yml: smtp.groups and webhook.groups are validated at load, each error naming its key', () => {
  const dir = tempDir('tw-groups-cfg-');
  const cfg = join(dir, 'server.yml');
  const smtp = 'host: mail.example, from: tw@example.org, to: security@example.org';
  const load = (text: string) => {
    writeFileSync(cfg, text);
    return loadServerConfig(cfg);
  };
  assert.deepEqual(load(`smtp: { ${smtp}, groups: { web: [web-team@example.org, oncall@example.org], db: dba@example.org } }\n`).smtp?.groups, {
    web: ['web-team@example.org', 'oncall@example.org'],
    db: ['dba@example.org'],
  });
  assert.deepEqual(load(`smtp: { ${smtp} }\n`).smtp?.groups, {}, 'no groups: the security address alone');
  assert.throws(() => load(`smtp: { ${smtp}, groups: { 'web team': [a@example.org] } }\n`), /smtp\.groups.*group name/s);
  assert.throws(() => load(`smtp: { ${smtp}, groups: { web: [not-an-address] } }\n`), /smtp\.groups\.web\.0.*mail address/s);
  assert.throws(() => load(`smtp: { ${smtp}, groups: { web: ['a@example.org, b@example.org'] } }\n`), /smtp\.groups\.web/);
  assert.throws(() => load(`smtp: { ${smtp}, groups: { web: [] } }\n`), /smtp\.groups\.web.*at least one/s);

  const hook = 'url: https://hooks.example/all, secretFile: /etc/tw/secret';
  assert.throws(() => load(`webhook: { ${hook}, groups: { web: { url: ftp://x.example/, secretFile: /s } } }\n`), /webhook\.groups\.web\.url/);
  assert.throws(() => load(`webhook: { ${hook}, groups: { web: { url: https://x.example/ } } }\n`), /webhook\.groups\.web\.secretFile/);
  assert.throws(() => load(`webhook: { ${hook}, groups: { web: { url: https://x.example/, secretFile: /s, colour: red } } }\n`), /colour/);
  assert.throws(() => load(`webhook: { ${hook}, groups: { -web: { url: https://x.example/, secretFile: /s } } }\n`), /webhook\.groups.*group name/s);
  // The secret is read when serve starts its channels; a missing or short one names the group's key.
  const short = join(dir, 'short');
  writeFileSync(short, 'abc\n');
  const config = load(`webhook: { url: https://hooks.example/all, secretFile: ${short}, groups: { web: { url: https://x.example/, secretFile: /nonexistent } } }\n`);
  assert.throws(() => new WebhookChannel({ ...config.webhook!.groups.web!, timeout: 1000 }, Date.now, 'web'), /webhook\.groups\.web\.secretFile: cannot read \/nonexistent/);
  const long = join(dir, 'long');
  writeFileSync(long, 'a-long-random-shared-secret-0123\n');
  assert.throws(
    () =>
      createChannels({
        config: load(`webhook: { url: https://hooks.example/all, secretFile: ${long}, groups: { web: { url: https://x.example/, secretFile: ${short} } } }\n`),
        dir,
      }),
    /webhook\.groups\.web\.secretFile: .* fewer than 16 characters/,
  );
});

test("test-mail --group G mails that group's addresses; a group not in smtp.groups is TW_SMTP_UNSET", async (t) => {
  const peer = new SmtpPeer();
  const port = await peer.start();
  t.after(() => peer.stop());
  const dir = tempDir('tw-groups-testmail-');
  writeFileSync(join(dir, 'ca.crt'), '');
  writeFileSync(
    join(dir, 'server.yml'),
    `smtp: { host: 127.0.0.1, port: ${port}, from: tw@test.example, to: security@test.example, groups: { web: [web-team@test.example, oncall@test.example] } }\n`,
  );
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: () => {} };
  assert.equal(await testMailCommand(['--dir', dir, '--group', 'web'], io), 0);
  assert.match(out[0]!, /^test mail sent to web-team@test\.example, oncall@test\.example via 127\.0\.0\.1:/);
  const [mail] = await peer.waitFor(1);
  assert.equal(toText(mail!), 'web-team@test.example, oncall@test.example');
  const unset = (key: string) => (err: unknown) => (err as { code?: string }).code === 'TW_SMTP_UNSET' && (err as Error).message.includes(key);
  await assert.rejects(testMailCommand(['--dir', dir, '--group', 'db'], io), unset('smtp.groups.db'));
  await assert.rejects(testMailCommand(['--dir', dir, '--group', 'constructor'], io), unset('smtp.groups.constructor'));
  assert.equal(peer.received.length, 1);
});
