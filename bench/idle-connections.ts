/**
 * Idle connections buy no silence: a real `serve` (in this process, real clock, interval 1 s, grace 1 s)
 * and a frozen agent (a hello, then nothing) whose `agent-missing` is timed from its hello, once alone
 * (the reference, same run) and once while an attacker process holds 75 TCP connections to the agents'
 * port that never start TLS and 75 that stall after their ClientHello. Also: when the server has cut
 * all 150 of them.
 *
 *   npm run bench -- idle-connections
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerApp } from '../server/server-app.ts';
import { systemClock } from '../shared/clock.ts';
import { silentLogger } from '../shared/log.ts';
import { cli, sleep } from './lib.ts';

const CONNECTIONS = 75;

// The attacker, its own process: captures a real ClientHello from Node's TLS client, then opens N idle
// connections and N that send the hello and stall; prints when all are open and when the server closed all.
const ATTACKER = `
const net = require('node:net'), tls = require('node:tls');
const [port, n] = process.argv.slice(1).map(Number);
const capture = net.createServer((s) => s.once('data', (hello) => { s.destroy(); capture.close(); attack(hello); }));
capture.listen(0, '127.0.0.1', () => tls.connect({ port: capture.address().port, host: '127.0.0.1', rejectUnauthorized: false }).on('error', () => {}));
function attack(hello) {
  const t0 = Date.now();
  let open = 0, answered = 0;
  for (let i = 0; i < 2 * n; i++) {
    const s = net.connect(port, '127.0.0.1');
    const sendsHello = i >= n;
    s.on('error', () => {});
    s.on('connect', () => { open++; if (sendsHello) s.write(hello); });
    if (sendsHello) s.once('data', () => { if (++answered === n) console.log(JSON.stringify({ ready: true })); });
    s.on('close', () => { if (--open === 0) { console.log(JSON.stringify({ closedAfterMs: Date.now() - t0 })); process.exit(0); } });
  }
}
`;

/** Says hello as a host that then goes silent; resolves with the ms until the server calls it missing. */
async function missingAfter(app: ServerApp, host: string): Promise<number> {
  const { sql, liveness, hosts } = app.ctx;
  await sql.run('INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)', [host, Date.now()]);
  const t0 = Date.now();
  await liveness.hello(host, { bootId: randomUUID(), seq: 0, interval: 1_000, agentVersion: 'bench', facts: {} } as never);
  while ((await hosts.get(host))?.status !== 'missing') {
    if (Date.now() - t0 > 120_000) return Number.NaN;
    await sleep(20);
  }
  return Date.now() - t0;
}

export async function idleConnections(): Promise<Record<string, unknown>> {
  const tmp = mkdtempSync(join(tmpdir(), 'tw-bench-idle-conn-'));
  const dir = join(tmp, 'data');
  await cli('server', ['init', '--dir', dir]);
  const cfg = join(dir, 'server.yml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grace: .*$/m, 'grace: 1s'));
  const app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock: systemClock, log: silentLogger(), channels: [] });
  const { gateway } = await app.start();
  try {
    const reference = await missingAfter(app, 'alone');
    const attacker = spawn(process.execPath, ['-e', ATTACKER, String(gateway.port), String(CONNECTIONS)], { stdio: ['ignore', 'pipe', 'ignore'] });
    const lines: Record<string, number | boolean>[] = [];
    attacker.stdout.setEncoding('utf8').on('data', (d: string) => {
      for (const l of d.split('\n').filter(Boolean)) lines.push(JSON.parse(l));
    });
    while (!lines.some((l) => l.ready)) await sleep(20);
    const attacked = await missingAfter(app, 'beside-attack');
    while (!lines.some((l) => typeof l.closedAfterMs === 'number')) await sleep(50);
    attacker.kill('SIGKILL');
    return {
      deadlineMs: 2 * 1_000 + 1_000,
      missingAfterMs: { alone: reference, beside: attacked },
      connections: 2 * CONNECTIONS,
      allCutAfterMs: lines.find((l) => typeof l.closedAfterMs === 'number')!.closedAfterMs,
    };
  } finally {
    await app.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await idleConnections(), null, 2));
