/**
 * The dashboard's pages and actions over real HTTP on loopback, against a
 * real SQLite data dir: worst severity beside liveness, the alarm page,
 * paging and filters, and Accept, Revoke and Maintenance through the CLI's
 * functions with a message after each, refusals included.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { Dashboard } from '../../../server/dashboard/dashboard-server.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { tempDir } from '../../helpers/temp.ts';

const PASSWORD = 'a long enough password';
const clock = new FakeClock(Date.UTC(2026, 11, 4, 8, 0, 0));
let ctx: ServerContext;
let dash: Dashboard;
let base: string;
let cookie: string;
let csrf: string;

before(async () => {
  const root = tempDir('tw-dash-actions-');
  const dir = join(root, 'data');
  writeFileSync(join(root, 'pw'), PASSWORD);
  assert.equal(await initCommand(['--dir', dir, '--admin-password-file', join(root, 'pw')], { out: () => {}, err: () => {} }), 0);
  ctx = openServerContext(dir, clock);
  const now = clock.now();
  for (const h of ['web1', 'db1', 'quiet'])
    await ctx.sql.run(`INSERT INTO hosts (host, grp, enrolled_at, status, last_seen, late_at, due_at) VALUES (?, 'web', ?, 'up', ?, ?, ?)`, [
      h,
      now,
      now,
      now + 3.6e6,
      now + 3.6e6,
    ]);
  // db1: a baseline and a real change of it, as a report and an event would make them.
  await ctx.baselines.applyReport('db1', { files: [fileEntry('/etc/crontab'), fileEntry('/usr/sbin/cron')], daemons: [], mounts: [] }, now);
  await ctx.baselines.applyEvent('db1', { files: [fileEntry('/etc/crontab', { size: 2, sha256: 'b'.repeat(64) })], gone: [], daemons: [], mounts: [] }, now);
  await ctx.baselines.applyReport('web1', { files: [fileEntry('/etc/crontab', { sha256: 'c'.repeat(64) })], daemons: [], mounts: [] }, now);
  for (let i = 0; i < 30; i++)
    await ctx.alarms.open('web1', i % 3 ? 'file-added' : 'port-opened', `/etc/cron.d/job${i}`, now - i * 1000, { path: `/etc/cron.d/job${i}` }, i % 3 ? 'critical' : 'warning');
  dash = new Dashboard({ ctx, clock, log: silentLogger(), acceptWait: { takenMs: 1000, storedMs: 2000, pollMs: 100 } });
  await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(dash.server.address() as AddressInfo).port}`;
  const form = await fetch(`${base}/login`);
  const loginCookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
  const token = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: token, user: 'admin', password: PASSWORD }),
  });
  cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('tw_session='))!;
  csrf = /name="csrf" value="([^"]+)"/.exec(await get('/'))![1]!;
});
after(async () => {
  dash.server.closeAllConnections();
  await new Promise<void>((r) => dash.server.close(() => r()));
  await ctx.close();
});

async function get(path: string): Promise<string> {
  const r = await fetch(`${base}${path}`, { headers: { cookie } });
  assert.equal(r.status, 200, path);
  return r.text();
}

/** A form post; while it is in flight the fake clock moves, so a wait inside the action ends. */
async function post(path: string, form: Record<string, string>): Promise<Response> {
  let done = false;
  const p = fetch(`${base}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, ...form }),
  }).finally(() => (done = true));
  for (let i = 0; i < 500 && !done; i++) {
    await new Promise((r) => setTimeout(r, 10));
    clock.advance(100);
  }
  return p;
}

test('a host with an open critical change shows it beside a green liveness badge, and comes first', async () => {
  const page = await get('/');
  const row = /<tr data-host="web1"[\s\S]*?<\/tr>/.exec(page)![0];
  assert.match(row, /badge st-up">up</);
  assert.match(row, /badge sev-critical">30 open, 20 critical</);
  assert.ok(page.indexOf('data-host="web1"') < page.indexOf('data-host="quiet"'), 'hosts with critical alarms first');
  assert.match(/<tr data-host="quiet"[\s\S]*?<\/tr>/.exec(page)![0], /class="none">none</);
  const api = (await (await fetch(`${base}/api/hosts`, { headers: { cookie } })).json()) as { host: string; worst: string | null }[];
  assert.equal(api.find((h) => h.host === 'web1')!.worst, 'critical');
  assert.equal(api.find((h) => h.host === 'quiet')!.worst, null);
});

test('the host page has its actions above the alarms, pages them 25 at a time, and filters them', async () => {
  const page = await get('/hosts/web1');
  assert.ok(page.indexOf('class="actions"') < page.indexOf('id="alarms"'), 'actions at the top');
  assert.match(page, /Alarms 1–25 of 30 \(page 1 of 2\)/);
  assert.equal((page.match(/data-alarm="/g) ?? []).length, 25);
  assert.match(page, /href="\/hosts\/web1\?page=2" rel="next">older →/);
  const two = await get('/hosts/web1?page=2');
  assert.match(two, /Alarms 26–30 of 30/);
  assert.equal((two.match(/data-alarm="/g) ?? []).length, 5);
  const warn = await get('/hosts/web1?severity=warning&kind=port-opened');
  assert.match(warn, /Alarms 1–10 of 10/);
  assert.ok(!warn.includes('sev-critical" data-alarm'), 'only warnings listed');
  const all = await get('/alarms?host=web1&state=all&page=2');
  assert.match(all, /Alarms 26–30 of 30/);
});

test('an alarm page says what the kind means and what to do, with the detail rendered for people', async () => {
  const id = (await ctx.alarms.list({ host: 'db1', open: true }))[0]!.id;
  const page = await get(`/alarms/${id}`);
  assert.match(page, /differ from the baseline\./);
  assert.match(page, /read <code>detail<\/code> \(old and new\); if intended, <code>accept HOST PATH<\/code>; otherwise investigate/);
  assert.match(page, /content \(SHA-256\)<\/dt><dd><code title="a{64}">aaaaaaaaaaaa…<\/code> → <code title="b{64}">bbbbbbbbbbbb…<\/code>/);
  assert.match(page, /Accept this change into the baseline/);
  const ack = await post(`/alarms/${id}/ack`, { back: `/alarms/${id}` });
  assert.equal(ack.headers.get('location'), `/alarms/${id}?notice=acked`);
  assert.match(await get(ack.headers.get('location')!), /class="notice" role="status">Alarm acknowledged\./);
  assert.equal((await fetch(`${base}/alarms/999999`, { headers: { cookie } })).status, 404);
});

test('the fleet view marks a host with an open critical alarm beside its name', async () => {
  const page = await get('/fleet');
  assert.match(page, /<a href="\/hosts\/web1">web1<\/a> <span class="badge mini sev-critical">critical<\/span>/);
  assert.match(page, /<a href="\/hosts\/db1">db1<\/a> <span class="badge mini sev-warning">warning<\/span>/);
});

test('Revoke without its box says so and revokes nothing; with it, revokes', async () => {
  const r = await post('/hosts/quiet/revoke', {});
  assert.equal(r.headers.get('location'), '/hosts/quiet?notice=revoke-unconfirmed');
  assert.match(await get(r.headers.get('location')!), /class="notice refused" role="status">Not revoked: tick the box &quot;I mean it&quot;/);
  assert.notEqual((await ctx.hosts.get('quiet'))!.state, 'revoked');
  const ok = await post('/hosts/quiet/revoke', { confirm: 'yes' });
  assert.equal(ok.headers.get('location'), '/hosts/quiet?notice=revoked');
  assert.equal((await ctx.hosts.get('quiet'))!.state, 'revoked');
});

test('Accept of a host that is not connected is refused as the CLI refuses it, and the last report can be taken knowingly', async () => {
  const r = await post('/hosts/db1/accept', { path: '', back: '/hosts/db1' });
  assert.equal(r.status, 409);
  const body = await r.text();
  assert.match(body, /db1: no running serve took the request in 1s; not accepted \(--stale accepts the last report stored\) \(TW_HOST_OFFLINE\)/);
  assert.match(body, /name="stale" value="yes"/);
  assert.match(body, /Accept the last stored report of db1 \(--stale\)/);
  assert.deepEqual(
    (await ctx.alarms.list({ host: 'db1', open: true })).map((a) => a.subject),
    ['/etc/crontab'],
    'nothing accepted',
  );

  const stale = await post('/hosts/db1/accept', { path: '', back: '/hosts/db1', stale: 'yes' });
  assert.equal(stale.status, 303);
  assert.equal(stale.headers.get('location'), '/hosts/db1');
  assert.match(await get('/hosts/db1'), /Accepted 2 path\(s\) of db1 from its last stored report \(stored 2026-12-04 08:00:00Z\)\./);
  assert.deepEqual(await ctx.alarms.list({ host: 'db1', open: true }), [], 'accepted: the alarm is resolved');
  assert.doesNotMatch(await get('/hosts/db1'), /Accepted 2 path/, 'the message is shown once');
  const audit = await ctx.sql.all(`SELECT action, host, arg FROM operator_actions WHERE host = 'db1' ORDER BY id`);
  assert.deepEqual(audit, [
    { action: 'accept-refused', host: 'db1', arg: 'TW_HOST_OFFLINE' },
    { action: 'accept', host: 'db1', arg: '--stale' },
  ]);
});

test('Accept of a path the host never reported says which, and Maintenance says what it holds', async () => {
  await post('/hosts/db1/accept', { path: '/etc/nope', back: '/hosts/db1', stale: 'yes' });
  assert.match(await get('/hosts/db1'), /Not accepted: db1 never reported \/etc\/nope \(TW_PATH_UNKNOWN\)/);
  const m = await post('/hosts/db1/maintenance', { for: '1h' });
  assert.match(await get(m.headers.get('location')!), /Maintenance window set: liveness alarms are not opened, and change alarms are held/);
  assert.match(await get('/hosts/db1'), /until 2026-12-04 \d\d:\d\d:\d\dZ: change alarms are held until then/);
});

test('controls and bidi marks in agent-supplied subjects, details and facts are shown as escapes, not obeyed', async () => {
  const evil = '/etc/\u202egnp.exe\x1b[31m';
  await ctx.alarms.open('db1', 'file-added', evil, clock.now(), { path: evil, new: { target: 'x\u2066y' } });
  await ctx.sql.run('UPDATE hosts SET facts = ? WHERE host = ?', [JSON.stringify({ 'os\u202e': 'Linux\x1b]0;owned\x07' }), 'db1']);
  for (const path of ['/alarms', '/hosts/db1', `/alarms/${(await ctx.alarms.list({ host: 'db1', open: true }))[0]!.id}`]) {
    const page = await get(path);
    // A hidden form field keeps the exact path, so Accept names the very file; it is never displayed.
    const shown = page.replace(/<input type="hidden" name="path" value="[^"]*">/g, '');
    assert.ok(!/[\u202e\u2066\x1b\x07]/.test(shown), `${path} shows no raw control or bidi character`);
    assert.ok(page.includes('/etc/\\u202egnp.exe\\x1b[31m'), `${path} shows the escapes`);
  }
  assert.ok((await get('/hosts/db1')).includes('Linux\\x1b]0;owned\\x07'));
});
