import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { Dashboard, isLoopbackHost } from '../../../server/dashboard/dashboard-server.ts';
import { createMetrics } from '../../../server/dashboard/metrics.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const PASSWORD = 'a long enough password';
let root: string;
let ctx: ServerContext;
let dash: Dashboard;
let base: string;
let ca: string;
const clock = new FakeClock(Date.now());

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tw-dash-'));
  const dir = join(root, 'data');
  writeFileSync(join(root, 'pw'), PASSWORD);
  const quiet = { out: () => {}, err: () => {} };
  assert.equal(await initCommand(['--dir', dir, '--listen', '127.0.0.1:7443', '--admin-password-file', join(root, 'pw')], quiet), 0);
  ctx = openServerContext(dir, clock);
  await ctx.sql.run(`INSERT INTO hosts (host, enrolled_at) VALUES ('web1', ?)`, [clock.now()]);
  await ctx.alarms.open('web1', 'file-changed', 'changed', clock.now());
  ca = readFileSync(ctx.paths.caCert, 'utf8');
  const metrics = createMetrics({ sql: ctx.sql, hosts: ctx.hosts, clock, beatsReceived: () => 0, connectedAgents: () => 0 });
  dash = new Dashboard({
    ctx,
    clock,
    log: silentLogger(),
    metrics,
    metricsTokenFile: join(dir, 'metrics.token'),
    tls: { keyPem: readFileSync(ctx.paths.serverKey, 'utf8'), certPem: readFileSync(ctx.paths.serverCert, 'utf8') },
  });
  await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
  base = `https://127.0.0.1:${(dash.server.address() as AddressInfo).port}`;
});
after(async () => {
  dash.server.closeAllConnections();
  await new Promise<void>((r) => dash.server.close(() => r()));
  await ctx.close();
  rmSync(root, { recursive: true, force: true });
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request trusting only the test data dir's CA. */
function req(method: string, path: string, o: { cookie?: string; form?: Record<string, string>; auth?: string } = {}): Promise<Res> {
  const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const r = request(
      `${base}${path}`,
      {
        method,
        ca,
        servername: 'localhost',
        headers: {
          ...(o.cookie ? { cookie: o.cookie } : {}),
          ...(o.auth ? { authorization: o.auth } : {}),
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

function cookieValue(res: Res, name: string): string | undefined {
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  return set.map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${name}=`));
}

async function login(password = PASSWORD): Promise<{ res: Res; session?: string }> {
  const form = await req('GET', '/login');
  const loginCookie = cookieValue(form, 'tw_login')!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const res = await req('POST', '/login', { cookie: loginCookie, form: { csrf, user: 'admin', password } });
  return { res, session: cookieValue(res, '__Host-tw_session') };
}

test('beyond loopback the dashboard is HTTPS; loopback addresses are told apart', () => {
  assert.ok(base.startsWith('https://'));
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '10.0.0.1', '::', 'dash.example']) assert.equal(isLoopbackHost(h), false, h);
});

test('over HTTPS the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict, and HSTS is sent', async () => {
  const { res, session } = await login();
  assert.equal(res.status, 303);
  assert.ok(session);
  const set = ([] as string[]).concat(res.headers['set-cookie']!).find((c) => c.startsWith('__Host-tw_session='))!;
  assert.match(set, /; Path=\/; HttpOnly; SameSite=Strict; Secure/);
  assert.match(String(res.headers['strict-transport-security']), /max-age=/);
  const page = await req('GET', '/', { cookie: session });
  assert.equal(page.status, 200);
  assert.match(page.body, /<a href="\/hosts\/web1">web1<\/a>/);
});

test('a wrong password is refused; after five failures wrong answers are held back, yet the right password logs in', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await login('wrong')).res.status, 401);
  let done = false;
  const sixth = login('wrong').finally(() => (done = true));
  const start = clock.now();
  for (let i = 0; i < 400 && !done; i++) {
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(50);
  }
  assert.equal((await sixth).res.status, 401);
  assert.ok(clock.now() - start >= 500, 'the sixth wrong answer waited the delay');
  assert.equal((await login()).res.status, 303, 'a bad actor on the same address does not lock the right password out');
});

test('forms need the session CSRF token; with it, acknowledge, maintenance and accept work and are audited', async () => {
  const { session } = await login();
  const page = await req('GET', '/hosts/web1', { cookie: session });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const id = (await ctx.alarms.list({ host: 'web1' }))[0]!.id;
  assert.equal((await req('POST', `/alarms/${id}/ack`, { cookie: session, form: { csrf: 'nope' } })).status, 403);
  const ack = await req('POST', `/alarms/${id}/ack`, { cookie: session, form: { csrf, back: '/hosts/web1' } });
  assert.equal(ack.status, 303);
  assert.equal(ack.headers.location, '/hosts/web1?notice=acked');
  assert.ok((await ctx.alarms.list({ host: 'web1' }))[0]!.ackedAt);
  const offsite = await req('POST', `/alarms/${id}/ack`, { cookie: session, form: { csrf, back: '//evil.example/' } });
  assert.equal(offsite.headers.location, '/alarms?notice=acked', 'redirects stay on the dashboard');

  const mt = await req('POST', '/hosts/web1/maintenance', { cookie: session, form: { csrf, for: '1h' } });
  assert.equal(mt.headers.location, '/hosts/web1?notice=maintenance');
  assert.equal((await ctx.hosts.get('web1'))!.maintenanceUntil, clock.now() + 3_600_000);
  const acc = await req('POST', '/hosts/web1/accept', { cookie: session, form: { csrf, path: '/etc/crontab' } });
  assert.equal(acc.headers.location, '/hosts/web1', 'the accept ran and its result waits as a message on the host page');
  const refused = await req('GET', '/hosts/web1', { cookie: session });
  assert.match(refused.body, /Not accepted: web1 has no baseline yet \(TW_BASELINE_NONE\)/, 'the refusal the CLI gives, in words');
  const audit = await ctx.sql.all('SELECT "user", action, host, arg FROM operator_actions ORDER BY id');
  assert.deepEqual(audit, [
    { user: 'admin', action: 'ack', host: null, arg: String(id) },
    { user: 'admin', action: 'ack', host: null, arg: String(id) },
    { user: 'admin', action: 'maintenance', host: 'web1', arg: '1h' },
    { user: 'admin', action: 'accept-refused', host: 'web1', arg: 'TW_BASELINE_NONE /etc/crontab' },
  ]);
  const notice = await req('GET', '/hosts/web1?notice=%3Cscript%3E', { cookie: session });
  assert.ok(!notice.body.includes('<script>'), 'notices are looked up by code, never reflected');
});

test('/metrics needs a session or the bearer token from metrics.token', async () => {
  assert.equal((await req('GET', '/metrics')).status, 401);
  assert.equal((await req('GET', '/metrics', { auth: 'Bearer nothing-configured-yet' })).status, 401);
  const token = 'm'.repeat(32);
  writeFileSync(join(ctx.paths.dir, 'metrics.token'), `${token}\n`, { mode: 0o600 });
  assert.equal((await req('GET', '/metrics', { auth: 'Bearer wrong' })).status, 401);
  const ok = await req('GET', '/metrics', { auth: `Bearer ${token}` });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /tripwarden_open_alarms\{kind="file-changed",severity="critical"\} 1/);
  const { session } = await login();
  assert.equal((await req('GET', '/metrics', { cookie: session })).status, 200);
});

test('a page whose read fails is a 500 that names no cause, and no rejection goes unhandled', async () => {
  const { session } = await login();
  const unhandled: unknown[] = [];
  const onUnhandled = (why: unknown) => unhandled.push(why);
  process.on('unhandledRejection', onUnhandled);
  // The alarms table gone for a moment: every read of it rejects inside the async handlers.
  await ctx.sql.run('ALTER TABLE alarms RENAME TO alarms_away');
  try {
    for (const path of ['/alarms', '/api/hosts', '/hosts/web1', '/alarms/1']) {
      const r = await req('GET', path, { cookie: session });
      assert.equal(r.status, 500, path);
      assert.equal(r.body, 'internal error; the server log says why', `${path}: no message, stack or SQL of the failure`);
      assert.match(String(r.headers['content-type']), /^text\/plain/, 'never rendered as markup');
    }
    const metrics = await req('GET', '/metrics', { cookie: session });
    assert.equal(metrics.status, 500, 'a metrics collect that rejects is awaited, not left floating');
  } finally {
    await ctx.sql.run('ALTER TABLE alarms_away RENAME TO alarms');
  }
  await new Promise((r) => setImmediate(r));
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
  assert.equal((await req('GET', '/alarms', { cookie: session })).status, 200, 'the next request reads again');
});
