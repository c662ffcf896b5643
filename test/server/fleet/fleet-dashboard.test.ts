import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { initCommand } from '../../../server/cli/init.ts';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { Dashboard } from '../../../server/dashboard/dashboard-server.ts';
import { createMetrics } from '../../../server/dashboard/metrics.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { FileEntry } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const PASSWORD = 'a long enough password';
const EVIL = '/opt/<script>alert(1)</script>';
let root: string;
let ctx: ServerContext;
let dash: Dashboard;
let base: string;
const clock = new FakeClock(Date.now());
const f = (path: string, sha: string): FileEntry => ({
  path,
  class: 'critical',
  type: 'file',
  sha256: sha.repeat(64),
  size: 1,
  mode: 0o100755,
  uid: 0,
  gid: 0,
  ino: '1',
  nlink: 1,
  mtime: '1',
  ctime: '1',
});

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tw-fleetdash-'));
  const dir = join(root, 'data');
  writeFileSync(join(root, 'pw'), PASSWORD);
  assert.equal(await initCommand(['--dir', dir, '--listen', '127.0.0.1:7443', '--admin-password-file', join(root, 'pw')], { out: () => {}, err: () => {} }), 0);
  ctx = openServerContext(dir, clock);
  const store = new BaselineStore(ctx.sql, ctx.alarms, new GroupPeers(ctx.sql));
  for (const [h, sha] of [
    ['web1', 'a'],
    ['web2', 'a'],
    ['web3', 'b'],
  ] as const) {
    await ctx.sql.run(`INSERT INTO hosts (host, grp, enrolled_at) VALUES (?, 'web', ?)`, [h, clock.now()]);
    await store.applyReport(h, { files: [f('/usr/sbin/cron', sha), f(EVIL, 'c')], daemons: [], mounts: [] }, clock.now());
  }
  const metrics = createMetrics({ sql: ctx.sql, hosts: ctx.hosts, clock, beatsReceived: () => 0, connectedAgents: () => 0 });
  dash = new Dashboard({ ctx, clock, log: silentLogger(), metrics, metricsTokenFile: join(dir, 'metrics.token') });
  await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(dash.server.address() as AddressInfo).port}`;
});
after(async () => {
  dash.server.closeAllConnections();
  await new Promise<void>((r) => dash.server.close(() => r()));
  await ctx.close();
  rmSync(root, { recursive: true, force: true });
});

async function login(): Promise<string> {
  const form = await fetch(`${base}/login`);
  const loginCookie = /tw_login=[^;]+/.exec(form.headers.get('set-cookie') ?? '')![0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, user: 'admin', password: PASSWORD }).toString(),
  });
  return /tw_session=[^;]+/.exec(res.headers.getSetCookie().join('\n'))![0];
}

test('the fleet page needs a session, lists who has which content, marks the outlier, escapes agent text', async () => {
  const anon = await fetch(`${base}/fleet`, { redirect: 'manual' });
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get('location'), '/login');

  const cookie = await login();
  const res = await fetch(`${base}/fleet?group=web`, { headers: { cookie } });
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /<code>\/usr\/sbin\/cron<\/code>/);
  assert.match(body, /<tr class="outlier">[\s\S]*?web3[\s\S]*?outlier: matches no other host of web/);
  assert.match(body, /2\/3/);
  assert.doesNotMatch(body, /<script>alert/, 'a path from an agent is text, never markup');

  const all = await (await fetch(`${base}/fleet?all=1&group=${encodeURIComponent('<bad>')}`, { headers: { cookie } })).text();
  assert.match(all, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'with every path, the odd one is shown escaped');
  assert.doesNotMatch(all, /<bad>/, 'an invalid group filter is ignored, not reflected');
  assert.match(all, /<a href="\/fleet">Fleet<\/a>/, 'the nav links the page');
});
