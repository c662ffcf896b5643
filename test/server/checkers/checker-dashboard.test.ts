/**
 * The dashboard's checker page and the host page's checker section: every host with a checker, problems
 * first, runs, the latest findings' entries; agent-supplied paths and reasons escaped. A real Dashboard on a
 * real data dir, plain HTTP on loopback, logged in as the admin.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { Dashboard } from '../../../server/dashboard/dashboard-server.ts';
import { createMetrics } from '../../../server/dashboard/metrics.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';

const PASSWORD = 'a long enough password';
const clock = new FakeClock(Date.now());
let ctx: ServerContext;
let dash: Dashboard;
let base: string;
let cookie: string;

before(async () => {
  const root = tempDir('tw-chkdash-');
  const dir = join(root, 'data');
  writeFileSync(join(root, 'pw'), PASSWORD);
  assert.equal(await initCommand(['--dir', dir, '--listen', '127.0.0.1:7443', '--admin-password-file', join(root, 'pw')], { out: () => {}, err: () => {} }), 0);
  ctx = openServerContext(dir, clock);
  const now = clock.now();
  for (const h of ['alpha', 'bravo']) {
    await ctx.sql.run(`INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)`, [h, now]);
    await ctx.checkers.declare(h, [{ kind: 'aide', files: ['/usr/bin/aide'] }], now);
  }
  const run = async (host: string) => {
    const id = await ctx.checkers.schedule({ host, checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: now, deadlineAt: now + 1000 }, now);
    await ctx.checkers.markSent(id, now);
    return id;
  };
  const base0 = {
    kind: 'checker-result' as const,
    checker: 'aide' as const,
    startedAt: now,
    finishedAt: now,
    exitCode: 1,
    added: 1,
    removed: 0,
    changed: 0,
    truncated: false,
    dbSha256: null,
  };
  await ctx.checkerResults.apply(
    'alpha',
    { ...base0, runId: await run('alpha'), status: 'findings', entries: [{ path: '/tmp/<script>alert(1)</script>', change: 'added', attrs: [] }] },
    now,
  );
  await ctx.checkerResults.apply('bravo', { ...base0, runId: await run('bravo'), status: 'failed', entries: [], added: 0, reason: 'db <b>gone</b>' }, now);
  const metrics = createMetrics({ sql: ctx.sql, hosts: ctx.hosts, clock, beatsReceived: () => 0, connectedAgents: () => 0 });
  dash = new Dashboard({ ctx, clock, log: silentLogger(), metrics, metricsTokenFile: join(dir, 'metrics.token') });
  await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(dash.server.address() as AddressInfo).port}`;
  const form = await fetch(`${base}/login`);
  const login = /tw_login=[^;]+/.exec(form.headers.get('set-cookie') ?? '')![0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: login, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, user: 'admin', password: PASSWORD }).toString(),
  });
  cookie = /tw_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
});
after(async () => {
  dash.server.closeAllConnections();
  await new Promise<void>((r) => dash.server.close(() => r()));
  await ctx.close();
});

test('the checkers page lists every host with a checker, problems first, and escapes what agents sent', async () => {
  const res = await fetch(`${base}/checkers`, { headers: { cookie } });
  assert.equal(res.status, 200);
  const body = await res.text();
  const problem = body.indexOf('Failed, missed or refused');
  assert.ok(problem >= 0 && body.indexOf('bravo</a> aide: failed: db &lt;b&gt;gone&lt;/b&gt;') > problem);
  assert.ok(body.indexOf('Other findings (1)') > body.indexOf('bravo</a> aide: failed'));
  assert.ok(body.indexOf('alpha</a> aide: findings 1 added') > body.indexOf('Other findings (1)'));
  assert.doesNotMatch(body, /<b>gone|<script>alert/);
  assert.match(body, /<a href="\/checkers">Checkers<\/a>/);
});

test('the host page shows its checker runs and the entries of the latest findings', async () => {
  const res = await fetch(`${base}/hosts/alpha`, { headers: { cookie } });
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /<h3>Checker runs<\/h3>/);
  assert.match(body, /Declared: <code>aide<\/code> \(1 files\)/);
  assert.match(body, /<span class="badge run-findings">findings<\/span>/);
  assert.match(body, /<td>added<\/td><td><code>\/tmp\/&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code><\/td>/);
});
