/**
 * Attacks on the dashboard from real processes on loopback: slow bodies that
 * would hold sockets forever, a burst of password guesses that would stall
 * the event loop the agents share, and a guesser on the admin's own address.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { scryptSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { Dashboard } from '../../../server/dashboard/dashboard-server.ts';
import { systemClock } from '../../../shared/clock.ts';
import { silentLogger } from '../../../shared/log.ts';
import { waitFor } from '../../helpers/wait.ts';

const PASSWORD = 'a long enough password';
const MAX_CONNECTIONS = 100;
let root: string;
let ctx: ServerContext;
let dash: Dashboard;
let port: number;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tw-dash-starve-'));
  const dir = join(root, 'data');
  writeFileSync(join(root, 'pw'), PASSWORD);
  assert.equal(await initCommand(['--dir', dir, '--listen', '127.0.0.1:7443', '--admin-password-file', join(root, 'pw')], { out: () => {}, err: () => {} }), 0);
  ctx = openServerContext(dir, systemClock);
  dash = new Dashboard({
    ctx,
    clock: systemClock,
    log: silentLogger(),
    limits: { headersTimeoutMs: 1_000, requestTimeoutMs: 1_500, loginBodyTimeoutMs: 1_000, checkIntervalMs: 200, maxConnections: MAX_CONNECTIONS },
    login: { baseDelayMs: 50, maxDelayMs: 200 },
  });
  await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
  port = (dash.server.address() as AddressInfo).port;
});
after(async () => {
  dash.server.closeAllConnections();
  await new Promise<void>((r) => dash.server.close(() => r()));
  await ctx.close();
  rmSync(root, { recursive: true, force: true });
});

/** Runs an attacker script in its own node process; its stdout lines are JSON messages. */
function attacker(name: string, source: string, args: string[]): { proc: ChildProcess; messages: Record<string, number>[] } {
  const file = join(root, `${name}.mjs`);
  writeFileSync(file, source);
  const proc = spawn(process.execPath, [file, String(port), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const messages: Record<string, number>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => messages.push(JSON.parse(l)));
  return { proc, messages };
}

function get(path: string, o: { cookie?: string; form?: string; localAddress?: string } = {}): Promise<{ status: number; body: string; cookies: string[] }> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.form ? 'POST' : 'GET',
        localAddress: o.localAddress,
        headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, cookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!) }));
      },
    );
    r.on('error', reject);
    r.end(o.form);
  });
}

async function loginForm(): Promise<{ cookie: string; csrf: string }> {
  const page = await get('/login');
  return { cookie: page.cookies.find((c) => c.startsWith('tw_login='))!, csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]! };
}

const SLOW_BODIES = `
import { connect } from 'node:net';
const [port, n, cookie] = process.argv.slice(2);
let opened = 0, closed = 0;
const t0 = Date.now();
for (let i = 0; i < Number(n); i++) {
  const s = connect(Number(port), '127.0.0.1', () => {
    s.write('POST /login HTTP/1.1\\r\\nHost: x\\r\\nCookie: ' + cookie + '\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\nContent-Length: 100\\r\\n\\r\\ncsrf=');
    if (++opened === Number(n)) console.log(JSON.stringify({ opened }));
  });
  s.on('error', () => {});
  s.resume();
  s.on('close', () => { if (++closed === Number(n)) console.log(JSON.stringify({ closed, ms: Date.now() - t0 })); });
}
`;

test('slow login bodies are cut after the timeout, never hold more than the connection cap, and a normal request still answers', async () => {
  const { cookie } = await loginForm();
  const fds = () => readdirSync('/proc/self/fd').length;
  const baseline = fds();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, fds())), 20);
  const a = attacker('slow-bodies', SLOW_BODIES, ['300', cookie]);
  try {
    await waitFor(() => a.messages.some((m) => m.opened), { timeoutMs: 20_000, what: 'the attacker to open its connections' });
    const closed = await waitFor(() => a.messages.find((m) => m.closed), { timeoutMs: 15_000, what: 'the server to close every slow connection' });
    assert.equal(closed.closed, 300);
  } finally {
    clearInterval(sampler);
    a.proc.kill();
  }
  assert.ok(peak - baseline <= MAX_CONNECTIONS + 20, `the dashboard held ${peak - baseline} descriptors at the peak (cap ${MAX_CONNECTIONS})`);
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/login')).status, 200);
});

const GUESSES = `
import { request } from 'node:http';
const [port, n, cookie, csrf, sameAddress] = process.argv.slice(2);
const tally = {};
const guess = (i) => new Promise((resolve) => {
  const body = new URLSearchParams({ csrf, user: 'admin', password: 'guess-' + i }).toString();
  const r = request({
    host: '127.0.0.1', port: Number(port), path: '/login', method: 'POST', agent: false,
    localAddress: sameAddress === '1' ? '127.0.0.1' : '127.0.' + (1 + Math.floor(i / 250)) + '.' + (2 + (i % 250)),
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
  }, (res) => { res.resume(); res.on('end', () => { tally[res.statusCode] = (tally[res.statusCode] ?? 0) + 1; resolve(); }); });
  r.on('error', () => { tally.error = (tally.error ?? 0) + 1; resolve(); });
  r.end(body);
});
if (sameAddress === '1') {
  // Keeps guessing, twenty at a time, until killed; reports after every ten answers.
  let i = 0, answered = 0;
  const worker = async () => { for (;;) { await guess(i++); if (++answered % 10 === 0) console.log(JSON.stringify({ answered, ...tally })); } };
  for (let w = 0; w < 20; w++) worker();
} else {
  // Fifty at a time: under the dashboard's connection cap, so every guess reaches a password check.
  const t0 = Date.now();
  let next = 0;
  const worker = async () => { while (next < Number(n)) await guess(next++); };
  await Promise.all(Array.from({ length: 50 }, worker));
  console.log(JSON.stringify({ done: 1, ms: Date.now() - t0, ...tally }));
}
`;

/** CPU time of this process's main thread (the event loop), from the kernel's clock ticks. */
function mainThreadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks of 10 ms (USER_HZ is 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

test('200 wrong guesses from 200 addresses do not stall the event loop the agents share', async () => {
  const { cookie, csrf } = await loginForm();
  // What one password check would block the loop for if it ran synchronously.
  let hashMs = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    scryptSync('x', Buffer.alloc(16), 32, { N: 16384, r: 8, p: 1 });
    hashMs = Math.min(hashMs, performance.now() - t);
  }
  // Only the main thread's own CPU counts as the loop standing still: on a loaded host every tick runs
  // late because other processes hold the cores, which says nothing about the server's code.
  let blocked = 0,
    worst = 0,
    last = performance.now(),
    lastCpu = mainThreadCpuMs();
  const probe = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    const late = Math.max(0, now - last - 10);
    const busy = Math.min(late, cpu - lastCpu);
    // Hashing on the thread pool still takes some main-thread time (requests, callbacks); only a block of
    // at least half a check, spent on this thread, counts.
    if (busy > hashMs / 2) blocked += busy;
    worst = Math.max(worst, busy);
    last = now;
    lastCpu = cpu;
  }, 10);
  const a = attacker('guesses', GUESSES, ['200', cookie, csrf, '0']);
  let result: Record<string, number>;
  try {
    result = await waitFor(() => a.messages.find((m) => m.done), { timeoutMs: 120_000, what: 'the guesses to be answered' });
  } finally {
    clearInterval(probe);
    a.proc.kill();
  }
  assert.equal(result[401], 200, `every guess is answered 401: ${JSON.stringify(result)}`);
  const synchronous = 200 * hashMs;
  assert.ok(
    blocked < synchronous / 4,
    `event loop stood still (main-thread CPU) ${blocked.toFixed(0)} ms in total; checking synchronously would block it ${synchronous.toFixed(0)} ms`,
  );
  assert.ok(worst < synchronous / 20, `longest stall ${worst.toFixed(0)} ms; one check takes ${hashMs.toFixed(0)} ms`);
});

test("a guesser on the admin's own address does not lock the right password out", async () => {
  const attack = await loginForm();
  const a = attacker('same-address', GUESSES, ['0', attack.cookie, attack.csrf, '1']);
  try {
    await waitFor(() => a.messages.some((m) => (m.answered ?? 0) >= 20), { timeoutMs: 60_000, what: 'twenty wrong answers' });
    const { cookie, csrf } = await loginForm();
    const res = await get('/login', { cookie, form: new URLSearchParams({ csrf, user: 'admin', password: PASSWORD }).toString(), localAddress: '127.0.0.1' });
    assert.equal(res.status, 303, 'the right password logs in while the attack goes on');
    assert.ok(res.cookies.some((c) => c.startsWith('tw_session=')));
    assert.ok(a.messages.length > 0 && !a.messages.some((m) => m[303]), 'no guess got in');
  } finally {
    a.proc.kill();
  }
});

test('the live feed outlives the request timeout that cuts everything else', async () => {
  const { cookie, csrf } = await loginForm();
  const login = await get('/login', { cookie, form: new URLSearchParams({ csrf, user: 'admin', password: PASSWORD }).toString() });
  const session = login.cookies.find((c) => c.startsWith('tw_session='))!;
  const events: string[] = [];
  let closed = false;
  const r = request({ host: '127.0.0.1', port, path: '/events', headers: { cookie: session } }, (res) => {
    assert.equal(res.statusCode, 200);
    res.setEncoding('utf8');
    res.on('data', (d: string) => events.push(d));
    res.on('close', () => (closed = true));
  });
  r.end();
  try {
    await waitFor(() => events.some((e) => e.includes('event: hosts')), { what: 'the first push' });
    const t = Date.now();
    await waitFor(() => Date.now() - t > 3_000 || closed, { timeoutMs: 5_000, what: 'twice the request timeout' });
    assert.equal(closed, false, 'the feed is still open after twice the request timeout');
  } finally {
    r.destroy();
  }
});
