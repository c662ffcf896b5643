/**
 * Dashboard response time under N slow clients. A child process opens N
 * connections that send a login request's headers and then never finish the
 * body; meanwhile this process times plain GETs of `/healthz` and `/login`.
 * Prints one JSON object: latencies before and during the attack, requests
 * refused, the dashboard's sockets and this process's descriptors at the
 * peak, and how long the server took to cut the slow clients.
 *
 *   node --import tsx bench/dashboard-slow-clients.ts [--slow 200] [--requests 50]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { initCommand } from '../server/cli/init.ts';
import { openServerContext } from '../server/context.ts';
import { Dashboard } from '../server/dashboard/dashboard-server.ts';
import { systemClock } from '../shared/clock.ts';
import { silentLogger } from '../shared/log.ts';
import { percentile } from './lib.ts';

const { values } = parseArgs({ options: { slow: { type: 'string', default: '200' }, requests: { type: 'string', default: '50' } } });
const SLOW = Number(values.slow),
  REQUESTS = Number(values.requests);

const SLOW_CLIENTS = `
import { connect } from 'node:net';
const [port, n] = process.argv.slice(2).map(Number);
let opened = 0, closed = 0;
const t0 = Date.now();
for (let i = 0; i < n; i++) {
  const s = connect(port, '127.0.0.1', () => {
    s.write('POST /login HTTP/1.1\\r\\nHost: x\\r\\nCookie: tw_login=' + 'a'.repeat(32) + '\\r\\nContent-Length: 100\\r\\n\\r\\ncsrf=');
    if (++opened === n) console.log(JSON.stringify({ opened, ms: Date.now() - t0 }));
  });
  s.on('error', () => {});
  s.resume();
  s.on('close', () => { if (++closed === n) console.log(JSON.stringify({ closed, ms: Date.now() - t0 })); });
}
`;

const root = mkdtempSync(join(tmpdir(), 'tw-bench-dash-'));
const dir = join(root, 'data');
writeFileSync(join(root, 'pw'), 'a long enough password');
await initCommand(['--dir', dir, '--listen', '127.0.0.1:7443', '--admin-password-file', join(root, 'pw')], { out: () => {}, err: () => {} });
const ctx = openServerContext(dir, systemClock);
const dash = new Dashboard({ ctx, clock: systemClock, log: silentLogger() });
await new Promise<void>((r) => dash.server.listen(0, '127.0.0.1', () => r()));
const port = (dash.server.address() as AddressInfo).port;

function timeGet(path: string): Promise<number | null> {
  const t = performance.now();
  return new Promise((resolve) => {
    const r = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t : null));
    });
    r.setTimeout(20_000, () => r.destroy());
    r.on('error', () => resolve(null));
    r.end();
  });
}

/** Latencies (ms) of the GETs that were answered 200; null when none was. */
async function sample(): Promise<{ p50Ms: number | null; p95Ms: number | null; maxMs: number | null; refused: number }> {
  const ms: number[] = [];
  let refused = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const t = await timeGet(i % 2 ? '/login' : '/healthz');
    if (t === null) refused++;
    else ms.push(t);
  }
  const r = (x: number) => (ms.length ? Math.round(x * 100) / 100 : null);
  return { p50Ms: r(percentile(ms, 50)), p95Ms: r(percentile(ms, 95)), maxMs: r(Math.max(...ms)), refused };
}

const fds = () => readdirSync('/proc/self/fd').length;
const idle = await sample();
const fdsBefore = fds();
const file = join(root, 'slow.mjs');
writeFileSync(file, SLOW_CLIENTS);
const child = spawn(process.execPath, [file, String(port), String(SLOW)], { stdio: ['ignore', 'pipe', 'inherit'] });
const messages: Record<string, number>[] = [];
createInterface({ input: child.stdout! }).on('line', (l) => messages.push(JSON.parse(l)));
let peakSockets = 0,
  peakFds = fdsBefore;
const probe = setInterval(() => {
  dash.server.getConnections((_e, n) => (peakSockets = Math.max(peakSockets, n)));
  peakFds = Math.max(peakFds, fds());
}, 20);
const deadline = Date.now() + 30_000;
while (!messages.some((m) => m.opened) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const underAttack = await sample();
while (!messages.some((m) => m.closed) && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 50));
clearInterval(probe);
const after = await sample();
child.kill();
console.log(
  JSON.stringify({
    slowClients: SLOW,
    requestsPerSample: REQUESTS,
    idle,
    underAttack,
    afterCut: after,
    slowClientsCutAfterMs: messages.find((m) => m.closed)?.ms ?? null,
    peakDashboardSockets: peakSockets,
    extraDescriptorsAtPeak: peakFds - fdsBefore,
  }),
);
dash.server.closeAllConnections();
await new Promise<void>((r) => dash.server.close(() => r()));
void ctx.close();
rmSync(root, { recursive: true, force: true });
