import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import type { AlarmNotice } from '../../../server/alarms/channels/channel.ts';
import { formatDigestMail } from '../../../server/alarms/channels/mail-format.ts';
import { BaselineSession } from '../../../server/baselines/baseline-session.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { buildFleetView } from '../../../server/fleet/fleet-view.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import { buildReport } from '../../../server/reports/report.ts';
import { formatReportText } from '../../../server/reports/report-format.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import type { Clock } from '../../../shared/clock.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { FileEntry, PortEntry } from '../../../shared/protocol.ts';
import { initServer, serverCli } from '../../helpers/cluster.ts';
import { fileEntry } from '../../helpers/file-entry.ts';

const CRON = '/usr/sbin/cron';
const H = (c: string) => c.repeat(64);
const f = (sha: string, ino = '1'): FileEntry => fileEntry(CRON, { class: 'critical', sha256: H(sha), size: 10, mode: 0o100755, ino, mtime: ino, ctime: ino });
const port = (p: number, proc: string): PortEntry => ({ proto: 'tcp', addr: '127.0.0.1', port: p, process: proc, pids: [42], uid: 0 });
const none = { gone: [], daemons: [], mounts: [] };

/** One data dir for the file: `init` once (a CLI process), then stores over its database. */
const { dir } = initServer();
const db = openSqlDb(join(dir, 'tripwarden.db'), PG_MIGRATIONS);
const alarms = new AlarmStore(db);
const store = new BaselineStore(db, alarms, new GroupPeers(db));
let now = Date.now() - 60_000;
const tick = () => (now += 1000);
for (const [host, grp, sample] of [
  ['s1', 'web', 1],
  ['h2', 'web', 0],
  ['h3', 'web', 0],
  ['d1', 'db', 0],
  ['p1', 'ports', 0],
] as const) {
  await db.run('INSERT INTO hosts (host, grp, sample, enrolled_at) VALUES (?, ?, ?, ?)', [host, grp, sample, now]);
  await await store.applyReport(host, { files: [f('a')], daemons: [], mounts: [], ports: host === 'p1' ? [port(22, 'sshd')] : [] }, tick());
}
const open = (host: string) => alarms.list({ open: true, host });

test('three hosts, one a sample: one upgrade gives one folded expected line, a different hash one critical outlier', async () => {
  // The upgrade reaches the sample first: critical there (nobody else has it yet) until accepted.
  await store.applyEvent('s1', { files: [f('b', '2')], ...none }, tick());
  assert.equal((await open('s1'))[0]?.severity, 'critical');
  const acc = await store.accept('s1', [CRON], tick());
  assert.deepEqual(acc.accepted, [CRON]);
  assert.deepEqual(await open('s1'), []);

  // The same upgrade on the two others: expected, a warning naming the sample.
  for (const h of ['h2', 'h3']) await store.applyEvent(h, { files: [f('b', `3${h}`)], ...none }, tick());
  for (const h of ['h2', 'h3']) {
    const [a, ...rest] = await open(h);
    assert.equal(rest.length, 0);
    assert.equal(a!.kind, 'file-changed');
    assert.equal(a!.severity, 'warning');
    assert.deepEqual((a!.detail as { expected: unknown }).expected, { sample: 's1', sha256: H('b') });
  }
  let r = await buildReport(db, new HostStore(db), now - 3_600_000, now + 1);
  const web = r.groups.find((g) => g.group === 'web')!;
  assert.equal(web.expected.length, 1, 'one folded line for the path');
  assert.deepEqual(web.expected[0]!.hosts, ['h2', 'h3']);
  assert.deepEqual(web.expected[0]!.samples, ['s1']);
  assert.deepEqual(web.sections.critical, [], 'no critical alarm for a sampled upgrade');
  assert.deepEqual(
    web.sections.expected.map((h) => h.host),
    ['h2', 'h3', 's1'],
    "the sample's accepted change is the reviewed upgrade, folded too",
  );
  let text = formatReportText(r);
  assert.equal(text.match(/\/usr\/sbin\/cron: 2 host\(s\) took the content of sample s1/g)?.length, 1, text);
  assert.doesNotMatch(text, /\[critical\] file-changed/);
  assert.match(text, /== Group db \(1 hosts\) ==[\s\S]*Quiet hosts \(no alarms\) \(1\):\n {2}d1 /, 'every host accounted for');

  // The mail digest folds the two openings into one line.
  const notices: AlarmNotice[] = (await alarms.list({ open: true })).map((a, i) => ({
    eventId: i + 1,
    action: 'open',
    at: now,
    alarmId: a.id,
    host: a.host,
    group: 'web',
    kind: a.kind,
    severity: a.severity,
    subject: a.subject,
    detail: a.detail,
    openedAt: now,
    ackedAt: null,
    resolvedAt: null,
  }));
  const mail = formatDigestMail(notices, dir).text;
  assert.equal(mail.match(/\/usr\/sbin\/cron: 2 host\(s\) of group web took the content of sample s1/g)?.length, 1, mail);
  assert.doesNotMatch(mail, /OPEN {4}\[warning\] h2 file-changed/);

  // Now h3 takes a binary nobody else has: its expected alarm gives way to one critical alarm naming it the outlier.
  await store.applyEvent('h3', { files: [f('c', '4')], ...none }, tick());
  const [crit, ...more] = await open('h3');
  assert.equal(more.length, 0);
  assert.equal(crit!.severity, 'critical');
  assert.equal((crit!.detail as { fleet: { outlier: boolean } }).fleet.outlier, true);
  r = await buildReport(db, new HostStore(db), now - 3_600_000, now + 1);
  const web2 = r.groups.find((g) => g.group === 'web')!;
  assert.deepEqual(
    web2.sections.critical.map((h) => h.host),
    ['h3'],
  );
  text = formatReportText(r);
  assert.match(text, /h3 \(web\)[^\n]*\n {4}#\d+ \[critical\] file-changed: \/usr\/sbin\/cron \(OUTLIER: no other host of web has this content;/);
  assert.equal(r.sections.critical.length, 1);

  // The fleet view: who has which content, h3 highlighted.
  const v = await buildFleetView(db, { group: 'web' });
  const p = v.paths.find((x) => x.path === CRON)!;
  assert.deepEqual(
    p.groups[0]!.variants.map((x) => [x.content, x.hosts]),
    [
      [H('b'), ['h2', 's1']],
      [H('c'), ['h3']],
    ],
  );
  assert.deepEqual(p.groups[0]!.outliers, ['h3']);
  const cli = serverCli(['fleet', '--dir', dir, '--group', 'web']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /web: 1\/3 cccccccccccc {2}h3 {2}<-- OUTLIER/);
  assert.equal((JSON.parse(serverCli(['fleet', '--dir', dir, '--json']).stdout) as { paths: unknown[] }).paths.length, 1, 'db agrees with itself: not listed');

  // accept --group takes what matches the sample and leaves the outlier, exit 1 naming it.
  const g = serverCli(['accept', '--group', 'web', CRON, '--dir', dir]);
  assert.equal(g.code, 1);
  assert.match(g.stdout, /h2: accepted 1 path/);
  assert.match(g.stderr, /TW_SAMPLE_MISMATCH: h3 \/usr\/sbin\/cron matches no sample host/);
  assert.deepEqual(await open('h2'), []);
  assert.equal((await open('h3')).length, 1);
});

test('a host that changed before the sample becomes expected when the sample accepts the same content', async () => {
  await store.applyEvent('h2', { files: [f('d', '5')], ...none }, tick());
  assert.equal((await open('h2'))[0]!.severity, 'critical');
  await store.applyEvent('s1', { files: [f('d', '6')], ...none }, tick());
  const r = await store.accept('s1', [CRON], tick());
  assert.equal(r.reclassified, 1);
  const [a, ...rest] = await open('h2');
  assert.equal(rest.length, 0);
  assert.equal(a!.severity, 'warning');
  assert.equal((a!.detail as { expected: { sample: string } }).expected.sample, 's1');
});

test('group and sample commands: a moved host is judged against its new group', async () => {
  let r = serverCli(['group', 'h3', 'db', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /h3 moved from group web to db/);
  r = serverCli(['sample', 'd1', 'on', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await new HostStore(db).get('d1'))!.sample, true);
  // d1 (sample of db) takes c and accepts it; h3, now in db, already has c: its next event is expected.
  await store.applyEvent('d1', { files: [f('c', '7')], ...none }, tick());
  await store.accept('d1', [CRON], tick());
  const [a] = await open('h3');
  assert.equal(a!.severity, 'warning', 'reclassified when the sample of its new group accepted');
  assert.equal(serverCli(['group', 'h3', 'bad group', '--dir', dir]).code, 2);
  assert.match(serverCli(['sample', 'nosuch', 'on', '--dir', dir]).stderr, /TW_HOST_UNKNOWN/);
  assert.equal(serverCli(['sample', 'd1', 'maybe', '--dir', dir]).code, 2);
});

test('ports: a new listener opens port-opened, goes when it closes, is accepted, and can be off per group', async () => {
  await store.applyReport('p1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'sshd')] }, tick());
  assert.deepEqual(await open('p1'), [], 'listeners of the first report are the baseline: quiet');
  await store.applyEvent('p1', { files: [], ...none, ports: [port(4444, 'nc')], portsGone: [] }, tick());
  let [a] = await open('p1');
  assert.equal(a!.kind, 'port-opened');
  assert.equal(a!.severity, 'warning');
  assert.equal(a!.subject, 'tcp/127.0.0.1:4444');
  assert.equal((a!.detail as { process: string }).process, 'nc');
  await store.applyEvent('p1', { files: [], ...none, ports: [], portsGone: ['tcp/127.0.0.1:4444'] }, tick());
  assert.deepEqual(await open('p1'), [], 'resolved when the listener goes away');
  // A full report without it agrees; another process on a baselined port is an alarm too.
  await store.applyReport('p1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'bash')] }, tick());
  [a] = await open('p1');
  assert.equal((a!.detail as { baselineProcess: string }).baselineProcess, 'sshd');
  const r = serverCli(['accept', 'p1', 'tcp/127.0.0.1:22', '--stale', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await open('p1'), []);
  assert.equal(serverCli(['group-ports', 'ports', 'off', '--dir', dir]).code, 0);
  await store.applyEvent('p1', { files: [], ...none, ports: [port(5555, 'nc')], portsGone: [] }, tick());
  assert.deepEqual(await open('p1'), [], 'port alarms off for the group');
  assert.equal(serverCli(['group-ports', 'ports', 'on', '--dir', dir]).code, 0);
  await store.applyReport('p1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'bash'), port(5555, 'nc')] }, tick());
  assert.equal((await open('p1'))[0]?.subject, 'tcp/127.0.0.1:5555', 'on again: the next report judges it');
  assert.equal((await store.digest('p1')).length, 64);
});

test('ports: a group allows listeners of named processes; others on the same host still alarm', async () => {
  await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', ['pa1', 'allowing', now]);
  await store.applyReport('pa1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'sshd')] }, tick());
  let r = serverCli(['group-ports', 'allowing', 'allow', 'rpc.statd', 'nc', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /port alarms on for group allowing; allowed processes: nc rpc.statd/);
  await store.applyEvent('pa1', { files: [], ...none, ports: [port(4444, 'nc')], portsGone: [] }, tick());
  assert.deepEqual(await open('pa1'), [], 'an allowed process opens no port-opened');
  await store.applyEvent('pa1', { files: [], ...none, ports: [port(5555, 'socat')], portsGone: [] }, tick());
  assert.deepEqual(
    (await open('pa1')).map((a) => a.subject),
    ['tcp/127.0.0.1:5555'],
    'a process not on the list still does',
  );
  // The list is per group: the same process on a host of another group alarms.
  await store.applyReport('p1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'bash'), port(5555, 'nc'), port(4444, 'nc')] }, tick());
  assert.ok((await open('p1')).some((a) => a.subject === 'tcp/127.0.0.1:4444'));
  // Taken off the list, the next report judges it again.
  assert.equal(serverCli(['group-ports', 'allowing', 'disallow', 'nc', '--dir', dir]).code, 0);
  await store.applyReport('pa1', { files: [f('a')], daemons: [], mounts: [], ports: [port(22, 'sshd'), port(4444, 'nc')] }, tick());
  assert.deepEqual(
    (await open('pa1')).map((a) => a.subject),
    ['tcp/127.0.0.1:4444'],
  );
  r = serverCli(['group-ports', 'allowing', 'allow', 'a name far longer than comm', '--dir', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TW_ARGS.*not a process name/);
  assert.equal(serverCli(['group-ports', 'allowing', 'allow', '--dir', dir]).code, 2, 'allow without names');
  assert.match(serverCli(['group-ports', 'allowing', '--dir', dir]).stdout, /allowed processes: rpc.statd$/m);
});

test('a report in parts carries its ports to the store: the listeners of a later report keep their alarm open', async () => {
  await db.run('INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, ?, ?)', ['sess1', 'ports', now]);
  const session = new BaselineSession('sess1', store, { now: () => now } as Clock, silentLogger(), () => undefined);
  const env = { bootId: '11111111-2222-4333-8444-555555555555', seq: 1, sentAt: now };
  const report = async (id: string, ports: PortEntry[]) => {
    assert.equal(await session.onReport({ type: 'report', ...env, reportId: id, part: 0, last: false, files: [f('a')], daemons: [], mounts: [], ports: [] }), null);
    assert.equal(await session.onReport({ type: 'report', ...env, reportId: id, part: 1, last: true, files: [], daemons: [], mounts: [], ports }), null);
  };
  await report('21111111-2222-4333-8444-555555555555', [port(22, 'sshd')]);
  assert.equal(
    (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM measured WHERE host = 'sess1' AND kind = 'port' AND baseline IS NOT NULL`))!.n,
    1,
    'the baseline has the listener',
  );
  await session.onEvent({ type: 'event', ...env, files: [], gone: [], daemons: [], mounts: [], notes: [], ports: [port(8080, 'nc')], portsGone: [] });
  assert.equal((await open('sess1'))[0]?.subject, 'tcp/127.0.0.1:8080');
  tick();
  await report('31111111-2222-4333-8444-555555555555', [port(22, 'sshd'), port(8080, 'nc')]);
  assert.equal((await open('sess1')).length, 1, 'a full report with the listener keeps the alarm open');
});

test.after(() => db.close());
