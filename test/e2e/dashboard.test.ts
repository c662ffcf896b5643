/**
 * The dashboard in a real browser (Debian's chromium through playwright-core)
 * against a real `serve` and a real agent: login, a host going missing live
 * when its agent is killed, acknowledging the alarm, escaping, and refusal
 * without a session.
 */

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { hashPassword } from '../../server/trust/passwords.ts';
import { enrollAgent, initServer, ROOT, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

// Browser globals, used only inside page.evaluate callbacks (tsconfig has no DOM lib).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
// biome-ignore lint/suspicious/noExplicitAny: the page's window, typed by no DOM lib here
declare const window: any;

const PASSWORD = 'correct horse battery';
const ARTIFACTS = join(ROOT, 'test-artifacts');
let server: TestServer;
let browser: Browser;
let base: string;

before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
  base = `http://127.0.0.1:${server.dashboardPort}`;
  const c = server.ctx();
  c.db!.prepare(`UPDATE users SET password_hash = ? WHERE name = 'admin'`).run(hashPassword(PASSWORD));
  await c.close();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function login(page: Page): Promise<void> {
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login$/, 'without a session the dashboard sends the browser to the login');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
}

test('a request without a session is refused: pages redirect to login, APIs and forms get 401', async () => {
  const page = await fetch(`${base}/`, { redirect: 'manual' });
  assert.equal(page.status, 303);
  assert.equal(page.headers.get('location'), '/login');
  for (const path of ['/api/hosts', '/events', '/metrics']) {
    assert.equal((await fetch(`${base}${path}`)).status, 401, path);
  }
  const post = await fetch(`${base}/alarms/1/ack`, { method: 'POST', body: 'csrf=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(post.status, 401);
  assert.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz stays open for probes');
  const forged = await fetch(`${base}/hosts/x`, { headers: { cookie: 'tw_session=not-a-session' }, redirect: 'manual' });
  assert.equal(forged.status, 303);
});

test('a logged-in form without the CSRF token is refused, and the session cookie is HttpOnly and SameSite=Strict', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await login(page);
  const [c] = (await ctx.cookies()).filter((k) => k.name === 'tw_session');
  assert.ok(c, 'session cookie set');
  assert.equal(c!.httpOnly, true);
  assert.equal(c!.sameSite, 'Strict');
  const cookie = `tw_session=${c!.value}`;
  const r = await fetch(`${base}/alarms/1/ack`, { method: 'POST', body: 'csrf=wrong', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 403);
  assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  await ctx.close();
});

test('logs in, sees a host go missing live when its agent is killed, and acknowledges the alarm', async (t) => {
  const agent = enrollAgent(server, 'delta');
  const proc = runAgent(agent);
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 700 } });
  const page = await ctx.newPage();
  await login(page);
  const status = page.locator('tr[data-host="delta"] td.status');
  await waitFor(async () => (await status.textContent({ timeout: 500 }).catch(() => null))?.trim() === 'up', { timeoutMs: 15_000, what: 'delta up on the page' });
  await page.locator('#live', { hasText: '(live)' }).waitFor({ timeout: 5000 });
  // Record, in the page, when the status cell turns `missing`; a reload would lose the marker.
  // A string, not a function: tsx would wrap named inner functions in a helper the page lacks.
  await page.evaluate(`(() => {
    window.__marker = 42;
    const check = () => {
      const td = document.querySelector('tr[data-host="delta"] td.status');
      if (!window.__missingAt && td && td.textContent.trim() === 'missing') window.__missingAt = Date.now();
    };
    new MutationObserver(check).observe(document.querySelector('#hosts tbody'), { childList: true, subtree: true, characterData: true });
  })()`);

  proc.signal('SIGKILL');
  await proc.exited;
  await page.waitForFunction(() => (window as unknown as { __missingAt?: number }).__missingAt, undefined, { timeout: 10_000 });
  const seen = await page.evaluate(() => {
    const w = window as unknown as { __marker: number; __missingAt: number };
    return { marker: w.__marker, at: w.__missingAt };
  });
  assert.equal(seen.marker, 42, 'updated live, without a reload');
  const c = server.ctx();
  const changedAt = (c.db!.prepare(`SELECT status_changed_at AS t FROM hosts WHERE host = 'delta'`).get() as { t: number }).t;
  await c.close();
  const lag = seen.at - changedAt;
  t.diagnostic(`status change to page: ${lag} ms`);
  assert.ok(lag < 1000, `the page showed missing ${lag} ms after the status changed (must be < 1 s)`);
  assert.match((await page.locator('tr[data-host="delta"] td.silent').textContent()) ?? '', /^silent /);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-hosts-missing.png'), fullPage: true });

  await page.click('tr[data-host="delta"] a');
  await page.waitForURL(`${base}/hosts/delta`);
  const row = page.locator('tr[data-alarm]', { hasText: 'agent-missing' });
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForURL(/notice=acked/);
  assert.match((await page.locator('.notice').textContent()) ?? '', /acknowledged/);
  assert.match((await page.locator('tr[data-alarm]', { hasText: 'agent-missing' }).locator('td.state').textContent()) ?? '', /^acknowledged/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-host-acked.png'), fullPage: true });
  const c2 = server.ctx();
  const missing = (await c2.alarms.list({ host: 'delta', open: true })).find((a) => a.kind === 'agent-missing')!;
  await c2.close();
  assert.ok(missing.ackedAt, 'the acknowledgement is stored');
  await ctx.close();
});

test('HTML planted in agent-supplied values (host name, alarm subject and detail, facts) is shown as text', async () => {
  const evilHost = '<img src=x onerror="window.__pwned=1">';
  const evilSubject = '<script>window.__pwned=2</script>';
  const c = server.ctx();
  const now = Date.now();
  c.db!.prepare(`INSERT INTO hosts (host, grp, enrolled_at, status, facts) VALUES (?, ?, ?, 'pending', ?)`).run(
    evilHost,
    '<b>grp</b>',
    now,
    JSON.stringify({ daemon: '<iframe src="javascript:alert(1)">' }),
  );
  await c.alarms.open(evilHost, 'file-changed', evilSubject, now, { path: '/etc/<svg onload=alert(1)>', old: '<i>a</i>', new: '"><b>b</b>' });
  await c.close();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('dialog', (d) => void d.dismiss());
  await login(page);
  await page.locator('#live', { hasText: '(live)' }).waitFor({ timeout: 5000 });
  // The row as the live script builds it from JSON.
  const row = page.locator('tr', { hasText: evilHost });
  await row.waitFor({ timeout: 5000 });
  assert.equal(await row.locator('a').textContent(), evilHost);
  assert.equal(await page.locator('#hosts img').count(), 0);

  await page.goto(`${base}/alarms`);
  assert.equal(await page.locator('.subject', { hasText: evilSubject }).count(), 1);
  assert.equal(await page.locator('main script, main img, main svg, main iframe').count(), 0);

  await page.goto(`${base}/hosts/${encodeURIComponent(evilHost)}`);
  assert.equal(
    await page
      .locator('h2')
      .first()
      .textContent()
      .then((t) => t?.startsWith(evilHost)),
    true,
  );
  assert.ok(((await page.locator('main').textContent()) ?? '').includes('<iframe src="javascript:alert(1)">'));
  assert.equal(await page.locator('main script, main img, main svg, main iframe, main b, main i').count(), 0);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-escaping.png'), fullPage: true });
  await ctx.close();
});
