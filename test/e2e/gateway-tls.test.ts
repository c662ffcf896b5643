/**
 * The agents' endpoint speaks only forward-secret AEAD suites and refuses renegotiation; `openssl s_client`
 * is the attacker, against a real `serve` on loopback.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { initServer, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
before(async () => {
  server = await startServer(initServer());
});
after(() => server.stop());

/** One s_client handshake with its input closed at once; true when a session was established. */
function handshake(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, ...args], { input: '', encoding: 'utf8', timeout: 20_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  return { ok: /^\s*Cipher is (?!\(NONE\))/m.test(out) || /New, TLSv1\.[23], Cipher is (?!\(NONE\))/.test(out), out };
}

test('TLS 1.2 with ECDHE and AES-GCM connects (the control)', () => {
  const r = handshake(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
  assert.ok(r.ok, r.out);
});

for (const suite of ['AES128-SHA', 'AES256-GCM-SHA384', 'AES128-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384', 'DHE-RSA-AES128-GCM-SHA256']) {
  test(`TLS 1.2 with ${suite} (static RSA, CBC or finite-field DH) fails to connect`, () => {
    const r = handshake(['-tls1_2', '-cipher', suite]);
    assert.equal(r.ok, false, r.out);
  });
}

test('a client-started TLS 1.2 renegotiation is refused', async (t) => {
  const c = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => c.kill('SIGKILL'));
  let out = '';
  c.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  await waitFor(() => /Verify return code/.test(out), { what: 'the first handshake', timeoutMs: 15_000 });
  c.stdin.write('R\n');
  await waitFor(() => /RENEGOTIATING/.test(out), { what: 's_client to ask for renegotiation', timeoutMs: 15_000 });
  // Refused: the server answers no_renegotiation (or drops the connection); either way no second handshake completes.
  await waitFor(() => /no renegotiation|alert|errno|closed|DONE/i.test(out.slice(out.indexOf('RENEGOTIATING'))) || c.exitCode !== null, {
    what: 'the refusal',
    timeoutMs: 15_000,
  });
  c.stdin.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  const after = out.slice(out.indexOf('RENEGOTIATING'));
  assert.doesNotMatch(after, /Verify return code: 0[\s\S]*Verify return code/, 'no second handshake');
  assert.match(after, /no renegotiation|alert/i, after);
});
