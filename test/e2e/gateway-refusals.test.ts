/**
 * Who may talk to the gateway: only a certificate from our CA, unexpired,
 * with the serial on record for a host that is not revoked.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { createCa, generateRsaKeyPair, issueCertificate } from '../../server/trust/ca.ts';
import { agentCommand, enrollAgent, hostStatus, initServer, openAlarms, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { identityOf, rawConnect } from '../helpers/raw-client.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
let caPem: string;
before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
  caPem = readFileSync(join(server.dir, 'ca.crt'), 'utf8');
});
after(() => server.stop());

const hello = (seq = 0) =>
  JSON.stringify({
    type: 'hello',
    bootId: '11111111-2222-4333-8444-555555555555',
    seq,
    sentAt: Date.now(),
    protocol: 1,
    agentVersion: 't',
    interval: 1000,
    facts: { hostname: 'x', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 },
  });

test('no client certificate: refused at the upgrade (401), no hello is read', async () => {
  const r = await rawConnect(server.port, { ca: caPem, send: [hello()] });
  assert.equal(r.opened, false);
  assert.equal(r.status, 401);
});

test('a certificate from another CA: the connection is dropped', async () => {
  enrollAgent(server, 'foxtrot');
  const other = createCa('Other CA');
  const kp = generateRsaKeyPair();
  const cert = issueCertificate({ ca: other, publicKeyPem: kp.publicKeyPem, commonName: 'foxtrot', names: [], usage: 'client' });
  const r = await rawConnect(server.port, { ca: caPem, key: kp.privateKeyPem, cert, send: [hello()] });
  assert.equal(r.opened, false);
  assert.equal(await hostStatus(server, 'foxtrot'), 'pending', 'no heartbeat got through');
});

test('an expired certificate from our CA, with the serial on record: dropped', async () => {
  const a = enrollAgent(server, 'golf');
  const ca = { keyPem: readFileSync(join(server.dir, 'ca.key'), 'utf8'), certPem: caPem };
  const c = server.ctx();
  const serial = (await c.hosts.get('golf'))!.certSerial!;
  await c.close();
  const kp = generateRsaKeyPair();
  const day = 86_400_000;
  const cert = issueCertificate({
    ca,
    publicKeyPem: kp.publicKeyPem,
    commonName: 'golf',
    names: [],
    usage: 'client',
    serial,
    notBefore: new Date(Date.now() - 10 * day),
    notAfter: new Date(Date.now() - day),
  });
  const r = await rawConnect(server.port, { ca: caPem, key: kp.privateKeyPem, cert, send: [hello()] });
  assert.equal(r.opened, false);
  assert.equal(await hostStatus(server, 'golf'), 'pending');
  // the real identity still works, so the refusal was the expiry
  const ok = await rawConnect(server.port, { ...identityOf(a.stateDir), send: [hello()], waitMs: 1500 });
  assert.equal(ok.opened, true);
  assert.deepEqual((ok.frames[0] as { type: string }).type, 'welcome');
});

test('revoke: the live connection is closed within 2 s and the certificate refused from then on', async () => {
  const a = enrollAgent(server, 'hotel');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'hotel')) === 'up', { what: 'hotel up' });
  const r = serverCli(['revoke', 'hotel', '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  const revokedAt = Date.now();
  const closed = await p.waitLog((o) => o.msg === 'disconnected' && o.code === 4003, 2500);
  assert.ok(closed && Date.now() - revokedAt <= 2500);
  assert.equal(await hostStatus(server, 'hotel'), 'revoked');
  await p.waitLog((o) => o.msg === 'server refused the connection' && o.status === 403, 5000);
  const raw = await rawConnect(server.port, { ...identityOf(a.stateDir), send: [hello()] });
  assert.equal(raw.status, 403);
  assert.deepEqual(await openAlarms(server, 'hotel'), [], 'a revoked host raises no liveness alarm');
  p.signal('SIGKILL');
});

test('a token for an enrolled host needs --replace; re-enrolling revokes the old certificate', async () => {
  const old = enrollAgent(server, 'india');
  const refused = serverCli(['token', 'india', '--dir', server.dir]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /already enrolled.*token india --replace/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, 'one error line');
  const p = runAgent(old);
  await waitFor(async () => (await hostStatus(server, 'india')) === 'up', { what: 'india up' });
  const tok = serverCli(['token', 'india', '--replace', '--dir', server.dir]);
  assert.equal(tok.code, 0, tok.stderr);
  const { agentCli } = await import('../helpers/cluster.ts');
  const dir = tempDir();
  writeFileSync(join(dir, 'agent.yml'), `server: ${server.url}\nstateDir: ${join(dir, 'state')}\ninterval: 1s\njitter: 100ms\ndefaults: false\n`);
  const en = agentCli(['enroll', '--server', server.url, '--token', tok.stdout.trim(), '--ca-sha256', server.fingerprint, '--config', join(dir, 'agent.yml')]);
  assert.equal(en.code, 0, en.stderr);
  // Closed at the server's next tick (250 ms); a heartbeat in between is told the same (test below).
  await p
    .waitLog((o) => o.msg === 'disconnected' && o.code === 4003, 5000)
    .catch((err: Error) => {
      throw new Error(`${err.message}\nserver: ${server.proc.describe(20)}`);
    });
  const raw = await rawConnect(server.port, { ...identityOf(old.stateDir), send: [hello()] });
  assert.equal(raw.status, 403, 'the old certificate is refused');
  const fresh = await rawConnect(server.port, { ...identityOf(join(dir, 'state')), send: [hello()], waitMs: 1500 });
  assert.equal(fresh.opened, true, 'the new certificate is accepted');
  p.signal('SIGKILL');
});

test('heartbeats on the old connection while a re-enrollment lands are no replay: the connection is closed as revoked, no alarm', async () => {
  const old = enrollAgent(server, 'juliett');
  const tok = serverCli(['token', 'juliett', '--replace', '--dir', server.dir]);
  assert.equal(tok.code, 0, tok.stderr);
  const bootId = '99999999-2222-4333-8444-555555555555';
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/agent`, { ...identityOf(old.stateDir), rejectUnauthorized: true });
  const closed = new Promise<number>((res) => ws.on('close', (code) => res(code)));
  let seq = 0;
  ws.on('open', () => ws.send(hello(seq++).replace('11111111-2222', '99999999-2222')));
  await new Promise<void>((res, rej) => {
    ws.once('message', () => res());
    ws.once('error', rej);
  });
  // Beat every 10 ms while the new identity enrolls: some beat lands between the enrollment's
  // commit (which clears the stored boot) and the tick that closes this connection.
  const beats = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'heartbeat', bootId, seq: seq++, sentAt: Date.now() }));
  }, 10);
  const dir = tempDir();
  writeFileSync(join(dir, 'agent.yml'), `server: ${server.url}\nstateDir: ${join(dir, 'state')}\ndefaults: false\n`);
  const a = agentCommand();
  const enroll = spawn(a.cmd, [...a.args, 'enroll', '--server', server.url, '--token', tok.stdout.trim(), '--ca-sha256', server.fingerprint, '--config', join(dir, 'agent.yml')]);
  const [code] = await Promise.all([closed, new Promise((res) => enroll.on('exit', res))]);
  clearInterval(beats);
  assert.equal(code, 4003, 'closed as revoked');
  assert.ok(seq > 3, 'heartbeats were sent while enrolling');
  assert.deepEqual(
    (await openAlarms(server, 'juliett')).map((a) => a.kind),
    [],
    'no replay alarm',
  );
});
