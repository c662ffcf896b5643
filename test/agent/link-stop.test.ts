/**
 * The link's stop in the window between `hello` and `welcome`: the server
 * already counts the agent as up, so a stop must still say goodbye, or a
 * deliberate `systemctl stop` reads as a crash (agent-disconnected).
 * Real mutual TLS on loopback; the "server" is a bare ws endpoint that holds
 * its welcome until the test lets it go.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCa, generateRsaKeyPair, issueCertificate } from '../../server/ca.ts';
import { AgentLink } from '../../agent/link.ts';
import { systemClock } from '../../shared/clock.ts';
import { silentLogger } from '../../shared/log.ts';
import { waitFor } from '../helpers/wait.ts';

test('a stop after hello but before welcome still sends goodbye, and no heartbeat follows it', async () => {
  const ca = createCa('Test CA');
  const srvKey = generateRsaKeyPair();
  const srvCert = issueCertificate({ ca, publicKeyPem: srvKey.publicKeyPem, commonName: '127.0.0.1', names: ['127.0.0.1'], usage: 'server' });
  const agKey = generateRsaKeyPair();
  const agCert = issueCertificate({ ca, publicKeyPem: agKey.publicKeyPem, commonName: 'kilo', names: [], usage: 'client' });
  const https = createServer({ key: srvKey.privateKeyPem, cert: srvCert, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({ server: https });
  const got: { type: string; seq: number }[] = [];
  let peer: WebSocket | undefined;
  wss.on('connection', (ws) => {
    peer = ws;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; seq: number };
      got.push(m);
      if (m.type === 'goodbye') ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  const port = (https.address() as AddressInfo).port;
  const link = new AgentLink({
    url: `wss://127.0.0.1:${port}`, identity: { keyPem: agKey.privateKeyPem, certPem: agCert, caPem: ca.certPem },
    clock: systemClock, log: silentLogger(), intervalMs: 50, jitterMs: 0, agentVersion: 't',
    facts: () => ({ hostname: 'kilo', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  try {
    link.start();
    await waitFor(() => got.some((m) => m.type === 'hello'), { what: 'hello' });
    const stopped = link.stop('test');
    // The welcome arrives after the stop began (the server read hello, then the goodbye).
    peer!.send(JSON.stringify({ type: 'welcome', host: 'kilo', serverTime: Date.now(), interval: 50 }));
    await stopped;
    assert.deepEqual(got.map((m) => m.type), ['hello', 'goodbye'], 'goodbye sent; no heartbeat after the late welcome');
    assert.ok(got[1]!.seq > got[0]!.seq);
  } finally {
    wss.close();
    https.close();
  }
});
