import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { AlarmNotice } from '../../../../server/alarms/channels/channel.ts';
import { formatSyslog, SyslogChannel } from '../../../../server/alarms/channels/syslog-channel.ts';

const notice: AlarmNotice = {
  eventId: 7,
  action: 'open',
  at: Date.UTC(2026, 0, 1),
  alarmId: 3,
  host: 'web1',
  group: 'web',
  kind: 'file-changed',
  severity: 'critical',
  subject: 'bad "quoted"] \nsubject',
  detail: null,
  openedAt: Date.UTC(2026, 0, 1),
  ackedAt: null,
  resolvedAt: null,
};

test('an alarm becomes one RFC 5424 line with structured data and no line breaks', () => {
  const line = formatSyslog({ ...notice, host: 'we"b]1' }, 'srv', 42);
  assert.equal(
    line,
    '<82>1 2026-01-01T00:00:00.000Z srv tripwarden 42 alarm-open [tripwarden@32473 alarm="3" host="we\\"b\\]1" kind="file-changed" severity="critical" action="open"] \uFEFFcritical we"b]1 file-changed: bad "quoted"]  subject',
  );
  assert.match(formatSyslog({ ...notice, action: 'resolve' }, 'srv', 1), /^<85>1 .* alarm-resolve /);
});

test('UDP: each alarm is one datagram to the log host', async (t) => {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.after(() => sock.close());
  const got = new Promise<string>((r) => sock.once('message', (m) => r(m.toString('utf8'))));
  const ch = new SyslogChannel({ host: '127.0.0.1', port: (sock.address() as AddressInfo).port, protocol: 'udp' });
  await ch.send(notice);
  assert.match(await got, /^<82>1 .* tripwarden \d+ alarm-open \[tripwarden@32473 alarm="3"/);
  await ch.close();
});

test('TCP: messages are octet-counted; a log host that is down is a transient error', async (t) => {
  let buf = '';
  const socks: import('node:net').Socket[] = [];
  const server = createServer((s) => {
    socks.push(s);
    s.on('data', (d) => (buf += d.toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const ch = new SyslogChannel({ host: '127.0.0.1', port, protocol: 'tcp' });
  await ch.send(notice);
  await ch.send({ ...notice, eventId: 8, action: 'resolve' });
  const deadline = Date.now() + 2000;
  while (!buf.includes('alarm-resolve') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const m = /^(\d+) /.exec(buf)!;
  const first = buf.slice(m[0].length, m[0].length + Number(m[1]));
  assert.match(first, /alarm-open/);
  assert.ok(Buffer.byteLength(first) === Number(m[1]) || first.length <= Number(m[1]));
  await ch.close();
  for (const s of socks) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  const down = new SyslogChannel({ host: '127.0.0.1', port, protocol: 'tcp' });
  await assert.rejects(down.send(notice), (e: { permanent?: boolean }) => e.permanent === false);
  t.after(() => down.close());
});

test('the registry creates a channel for each configured block and none for absent ones', async () => {
  const { createChannels } = await import('../../../../server/alarms/channels/registry.ts');
  const { ServerConfigSchema } = await import('../../../../server/config.ts');
  assert.deepEqual(
    createChannels({ config: ServerConfigSchema.parse({}), dir: '/d' }).map((c) => c.name),
    [],
  );
  const config = ServerConfigSchema.parse({
    smtp: { host: '127.0.0.1', from: 'a@b.c', to: 's@b.c' },
    syslog: { host: '127.0.0.1', protocol: 'tcp' },
  });
  const chans = createChannels({ config, dir: '/d' });
  assert.deepEqual(
    chans.map((c) => c.name),
    ['mail', 'syslog'],
  );
  await Promise.all(chans.map((c) => c.close()));
});
