/**
 * Slow unauthenticated clients from one address cannot keep other hosts from enrolling: an attacker process
 * on 127.0.0.1 holds 520 TLS connections that dribble an `/enroll` request's headers a byte at a time (and
 * reconnects whatever is cut), while a legitimate enrollment from 127.0.0.2 goes through, against a real `serve`.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKeyAndCsr } from '../../agent/identity/csr.ts';
import { initServer, Proc, serverCli, startServer } from '../helpers/cluster.ts';
import { sleep } from '../helpers/wait.ts';

const ATTACKER = `
const tls = require('node:tls');
const [port, n] = process.argv.slice(1).map(Number);
let secured = 0, reported = false;
function one() {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
    s.write('POST /enroll HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\nX-Slow: ');
    const drip = setInterval(() => s.write('a'), 1000);
    s.once('close', () => clearInterval(drip));
  });
  s.on('error', () => {});
  s.once('secureConnect', () => secured++);
  s.once('close', () => setTimeout(one, 200));
}
for (let i = 0; i < n; i++) one();
setInterval(() => { if (!reported && secured >= n) { reported = true; console.log(JSON.stringify({ ready: true })); } }, 100);
`;

function enrollFrom(localAddress: string, port: number, ca: string, token: string): Promise<{ status: number; body: string } | { error: string }> {
  const { csrPem } = createKeyAndCsr('legit');
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        path: '/enroll',
        method: 'POST',
        ca,
        rejectUnauthorized: true,
        timeout: 20_000,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(JSON.stringify({ token, csr: csrPem }));
  });
}

test('520 slow clients on 127.0.0.1 do not keep a host on 127.0.0.2 from enrolling', { timeout: 120_000 }, async (t) => {
  const init = initServer();
  const server = await startServer(init);
  t.after(() => server.stop());
  const ca = readFileSync(join(init.dir, 'ca.crt'), 'utf8');
  const tok = serverCli(['token', 'legit', '--dir', init.dir]);
  assert.equal(tok.code, 0, tok.stderr);

  const attacker = new Proc(spawn(process.execPath, ['-e', ATTACKER, String(server.port), '520'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.after(() => attacker.signal('SIGKILL'));
  // Every attacker connection finished its handshake once (admitted or cut right after): the slots are taken.
  await attacker.waitLog((o) => o.ready === true, 60_000);
  await sleep(500);

  const r = await enrollFrom('127.0.0.2', server.port, ca, tok.stdout.trim());
  assert.ok('status' in r, `the enrollment failed: ${'error' in r ? r.error : ''}`);
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as { host: string }).host, 'legit');
});
