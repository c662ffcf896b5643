/**
 * The dashboard a newcomer meets, in a real browser (Debian's chromium
 * through playwright-core) against a real `serve` and `agent run`: a
 * critical change beside a green liveness badge, the host and alarm pages,
 * Accept from the dashboard through the CLI's function (fresh report when
 * connected; refused when not, then taken knowingly), Revoke without its
 * box. Screenshots go to TW_SCREENSHOT_DIR, or a temp dir named in the
 * test's diagnostics.
 */

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { hashPassword } from '../../server/trust/passwords.ts';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const PASSWORD = 'correct horse battery';
const HOST = 'web-7';
const SHOTS = process.env.TW_SCREENSHOT_DIR ?? tempDir('tw-dash-shots-');
let server: TestServer;
let browser: Browser;
let base: string;
let agent: Proc;
let F: string;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const root = tempDir('tw-dash-e2e-');
  F = join(root, 'nginx.conf');
  writeFileSync(F, 'worker_processes 4;\n');
  server = await startServer(initServer({ grace: '1s' }));
  base = `http://127.0.0.1:${server.dashboardPort}`;
  const c = server.ctx();
  c.db!.prepare(`UPDATE users SET password_hash = ? WHERE name = 'admin'`).run(hashPassword(PASSWORD));
  await c.close();
  agent = runAgent(enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${F}, critical: true }\n` }));
  await waitForBaseline(server, HOST);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function login(page: Page): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
}

test('a critical change on a connected host shows beside its green badge, reads as old → new, and is accepted from the dashboard', async (t) => {
  t.diagnostic(`screenshots in ${SHOTS}`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await login(page);
  const row = page.locator(`tr[data-host="${HOST}"]`);
  await waitFor(
    async () =>
      (
        await row
          .locator('td.status')
          .textContent({ timeout: 500 })
          .catch(() => null)
      )?.trim() === 'up',
    { timeoutMs: 15_000, what: 'up' },
  );
  await page.locator('#live', { hasText: '(live)' }).waitFor({ timeout: 5000 });

  // One rename, so content and mode arrive in one event (a write then a chmod may be two).
  writeFileSync(`${F}.new`, 'worker_processes 4;\nload_module /tmp/evil.so;\n');
  chmodSync(`${F}.new`, 0o666);
  renameSync(`${F}.new`, F);
  // Live: the row changes over the event stream, without a reload.
  await row.locator('td.alarms .badge.sev-critical').waitFor({ timeout: 15_000 });
  assert.equal((await row.locator('td.status').textContent())?.trim(), 'up', 'liveness is still up');
  assert.match((await row.locator('td.alarms').textContent()) ?? '', /1 open, 1 critical/);
  assert.match((await page.locator('#summary').textContent()) ?? '', /1 with open critical alarms/);
  await page.screenshot({ path: join(SHOTS, 'hosts.png'), fullPage: true });

  await row.locator('a').first().click();
  await page.waitForURL(`${base}/hosts/${HOST}`);
  const actionsY = (await page.locator('section.actions').boundingBox())!.y;
  assert.ok(actionsY < (await page.locator('#alarms').boundingBox())!.y, 'the actions are above the alarms');
  assert.ok(actionsY < 600, `the actions are in the first screen (at ${actionsY}px)`);
  await page.screenshot({ path: join(SHOTS, 'host.png'), fullPage: true });

  await page.locator('tr[data-alarm] a.subject').first().click();
  await page.waitForURL(/\/alarms\/\d+$/);
  const main = (await page.locator('main').textContent()) ?? '';
  assert.match(main, /What to do/);
  assert.match(main, /if intended, accept HOST PATH; otherwise investigate/);
  assert.match(main, /content \(SHA-256\)[0-9a-f]{12}… → [0-9a-f]{12}…/);
  assert.match(main, /mode0644 \(rw-r--r--\) → 0666 \(rw-rw-rw-\)/);
  assert.match(main, /modified \(mtime\)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z → /);
  assert.doesNotMatch(main, /\d{18,}/, 'no nanosecond integers');
  await page.screenshot({ path: join(SHOTS, 'alarm.png'), fullPage: true });

  await page.getByRole('button', { name: 'Accept this change into the baseline' }).click();
  await page.waitForURL(/\/alarms\/\d+$/);
  assert.match((await page.locator('.notice').textContent()) ?? '', new RegExp(`Accepted 1 path\\(s\\) of ${HOST} from its fresh report \\(stored \\d{4}-`));
  assert.match((await page.locator('main').textContent()) ?? '', /Resolved \d{4}-/);
  await page.screenshot({ path: join(SHOTS, 'alarm-accepted.png'), fullPage: true });
  assert.deepEqual(
    (await openAlarms(server, HOST)).filter((a) => a.kind === 'file-changed'),
    [],
  );
  await ctx.close();
});

test('Accept of a stopped host is refused as the CLI refuses it, then taken knowingly; Revoke without its box says so', async () => {
  writeFileSync(F, 'worker_processes 8;\n');
  await waitFor(async () => (await openAlarms(server, HOST)).some((a) => a.kind === 'file-changed'), { timeoutMs: 15_000, what: 'the second change' });
  agent.signal('SIGTERM');
  await agent.exited;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await login(page);
  await page.goto(`${base}/hosts/${HOST}`);
  await page.getByRole('button', { name: 'Accept all current changes' }).click();
  await page.locator('h2', { hasText: 'Not accepted' }).waitFor({ timeout: 30_000 });
  const refusal = (await page.locator('main').textContent()) ?? '';
  assert.match(refusal, new RegExp(`${HOST}: not connected to the running serve; not accepted \\(--stale accepts the last report stored\\) \\(TW_HOST_OFFLINE\\)`));
  await page.screenshot({ path: join(SHOTS, 'accept-refused.png'), fullPage: true });
  await page.getByRole('button', { name: /Accept the last stored report/ }).click();
  await page.waitForURL(`${base}/hosts/${HOST}`);
  assert.match((await page.locator('.notice').textContent()) ?? '', new RegExp(`Accepted \\d+ path\\(s\\) of ${HOST} from its last stored report`));
  assert.deepEqual(
    (await openAlarms(server, HOST)).filter((a) => a.kind === 'file-changed'),
    [],
  );

  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.waitForURL(/notice=revoke-unconfirmed/);
  assert.match((await page.locator('.notice').textContent()) ?? '', /Not revoked: tick the box "I mean it"/);
  await page.screenshot({ path: join(SHOTS, 'revoke-unconfirmed.png'), fullPage: true });
  const c = server.ctx();
  assert.notEqual((await c.hosts.get(HOST))!.state, 'revoked');
  await c.close();

  await page.selectOption('select[name=for]', '4h');
  await page.getByRole('button', { name: 'Set maintenance' }).click();
  await page.waitForURL(/notice=maintenance/);
  assert.match((await page.locator('.notice').textContent()) ?? '', /change alarms are held \(shown here, mailed when the window ends unless accepted by then\)/);
  assert.match((await page.locator('h2').first().textContent()) ?? '', /maintenance/);

  await page.selectOption('select[name=state]', 'all');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/state=all/);
  assert.ok((await page.locator('tr[data-alarm].resolved').count()) >= 2, 'resolved alarms listed with state=all');

  await page.goto(`${base}/alarms?state=all`);
  assert.match((await page.locator('.pager').first().textContent()) ?? '', /Alarms 1–\d+ of \d+/);
  await page.screenshot({ path: join(SHOTS, 'alarms.png'), fullPage: true });
  await page.goto(`${base}/report`);
  assert.match((await page.locator('main').textContent()) ?? '', /open now, \d+ of them critical/);
  await page.screenshot({ path: join(SHOTS, 'report.png'), fullPage: true });
  await ctx.close();
});
