/**
 * Connections that make no progress buy no silence: an attacker process opens 75 TCP connections to the
 * agents' port that never start TLS, and 75 that send a ClientHello and then stall. None of it may hold
 * deadlines (only the server's own stalls may), so a frozen agent is declared missing on time; and the
 * server cuts every one of those connections at its handshake timeout. A ServerApp on a real data dir
 * listening on loopback, whose fake clock moves the tick.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { ServerApp } from '../../../server/server-app.ts';
import { silentLogger } from '../../../shared/log.ts';
import { initServer, Proc } from '../../helpers/cluster.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { helloMsg } from '../../helpers/server-db.ts';
import { sleep } from '../../helpers/wait.ts';

// The attacker: plain Node, its own process. It captures a real ClientHello from Node's TLS client first.
const ATTACKER = `
const net = require('node:net'), tls = require('node:tls');
const [port, n] = process.argv.slice(1).map(Number);
const capture = net.createServer((s) => s.once('data', (hello) => { s.destroy(); capture.close(); attack(hello); }));
capture.listen(0, '127.0.0.1', () => {
  const c = tls.connect({ port: capture.address().port, host: '127.0.0.1', rejectUnauthorized: false });
  c.on('error', () => {});
});
function attack(hello) {
  const t0 = Date.now();
  let open = 0, answered = 0;
  for (let i = 0; i < 2 * n; i++) {
    const s = net.connect(port, '127.0.0.1');
    const sendsHello = i >= n;
    s.on('error', () => {});
    s.on('connect', () => {
      open++;
      if (sendsHello) s.write(hello);
      if (open === 2 * n && n === 0) console.log('ready');
    });
    if (sendsHello) s.once('data', () => { if (++answered === n) console.log(JSON.stringify({ ready: true })); });
    s.on('close', () => { if (--open === 0) { console.log(JSON.stringify({ closedAfterMs: Date.now() - t0 })); process.exit(0); } });
  }
}
`;

test('idle and stalled handshakes hold no deadline, and are cut at the handshake timeout', async (t) => {
  const clock = new FakeClock(Date.now());
  const app = new ServerApp({ dir: initServer().dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock, log: silentLogger(), channels: [] });
  const { gateway } = await app.start();
  t.after(() => app.stop());
  const attacker = new Proc(spawn(process.execPath, ['-e', ATTACKER, String(gateway.port), '75'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.after(() => attacker.signal('SIGKILL'));
  await attacker.waitLog((o) => o.ready === true);

  const { sql, liveness, hosts } = app.ctx;
  await sql.run(`INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)`, ['frozen', clock.now()]);
  await liveness.hello('frozen', helloMsg(0, 10_000));
  // Missing at two intervals plus grace; a second more for a tick the test machine itself may have kept busy.
  const due = clock.now() + 20_000 + app.ctx.config.grace + 1_000;
  // The tick runs on the fake clock; a real pause between ticks lets the server's loop be as idle as it is.
  // The attacker's 75 stalled handshakes stay in flight (10 s) through the whole loop, so only the loop's real
  // utilisation tells them from a storm: the pause is long enough that the tick's own work, slowed on a loaded
  // host, stays well under half of it (at 10 ms it did not, and the deadline was held at load 14).
  while (clock.now() < due) {
    clock.advance(250);
    await sleep(50);
  }
  assert.equal((await hosts.get('frozen'))!.status, 'missing', 'declared missing at its deadline, not held by the attacker');
  assert.deepEqual(
    (await app.ctx.alarms.list({ open: true })).map((a) => `${a.host} ${a.kind}`),
    ['frozen agent-missing'],
  );

  const closed = await attacker.waitLog((o) => typeof o.closedAfterMs === 'number', 20_000);
  assert.ok((closed.closedAfterMs as number) < 15_000, `all 150 connections cut by the server (after ${String(closed.closedAfterMs)} ms)`);
});
