/**
 * Failover between servers: with a list, a link whose server dies dials the next one after a short random
 * wait, keeping its boot id and growing sequence; once the first answers its health probe again (after
 * `failbackMs`), the link closes with MOVING and goes back to it. Real mutual TLS on loopback, two servers
 * of one CA.
 */

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { AgentLink } from '../../../agent/link/agent-link.ts';
import { createCa, generateRsaKeyPair, issueCertificate, type KeyAndCert } from '../../../server/trust/ca.ts';
import { systemClock } from '../../../shared/clock.ts';
import { silentLogger } from '../../../shared/log.ts';
import { CloseCode } from '../../../shared/protocol.ts';
import { waitFor } from '../../helpers/wait.ts';

interface Frame {
  type: string;
  bootId: string;
  seq: number;
  wantAck?: boolean;
}

/** A scripted agent endpoint that welcomes, acks, answers /healthz, and records what it got. */
class Peer {
  readonly https: Server;
  readonly got: Frame[] = [];
  readonly closes: number[] = [];
  port = 0;
  constructor(ca: KeyAndCert) {
    const k = generateRsaKeyPair();
    const cert = issueCertificate({ ca, publicKeyPem: k.publicKeyPem, commonName: '127.0.0.1', names: ['127.0.0.1'], usage: 'server' });
    this.https = createServer({ key: k.privateKeyPem, cert, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404).end('{}');
    });
    const wss = new WebSocketServer({ server: this.https });
    wss.on('connection', (ws) => {
      ws.on('close', (code) => this.closes.push(code));
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Frame;
        this.got.push(m);
        if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', host: 'mike', serverTime: Date.now(), interval: 200 }));
        else if (m.wantAck) ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
      });
    });
  }
  async listen(port = 0): Promise<string> {
    await new Promise<void>((r) => this.https.listen(port, '127.0.0.1', () => r()));
    this.port = (this.https.address() as AddressInfo).port;
    return `wss://127.0.0.1:${this.port}`;
  }
  /** Gone at once, as after kill -9: every socket reset. */
  kill(): Promise<void> {
    return new Promise((r) => {
      this.https.close(() => r());
      this.https.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }
  private readonly sockets = new Set<import('node:net').Socket>();
  track(): void {
    this.https.on('secureConnection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }
}

test('a link with two servers moves to the second when the first dies, and back once the first answers again', async () => {
  const ca = createCa('Test CA');
  const agKey = generateRsaKeyPair();
  const identity = {
    keyPem: agKey.privateKeyPem,
    certPem: issueCertificate({ ca, publicKeyPem: agKey.publicKeyPem, commonName: 'mike', names: [], usage: 'client' }),
    caPem: ca.certPem,
  };
  const first = new Peer(ca);
  first.track();
  const second = new Peer(ca);
  const firstUrl = await first.listen();
  const secondUrl = await second.listen();
  const link = new AgentLink({
    url: [firstUrl, secondUrl],
    failbackMs: 1500,
    identity,
    clock: systemClock,
    log: silentLogger(),
    intervalMs: 200,
    jitterMs: 0,
    agentVersion: 't',
    facts: () => ({ hostname: 'mike', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  let revived: Peer | undefined;
  try {
    link.start();
    await waitFor(() => link.isConnected && first.got.some((m) => m.type === 'heartbeat'), { what: 'heartbeats on the first server' });
    assert.equal(link.serverUrl, firstUrl, 'the first of the list is dialled first');

    const killedAt = Date.now();
    await first.kill();
    await waitFor(() => second.got.some((m) => m.type === 'hello'), { what: 'hello on the second server', timeoutMs: 5000 });
    await waitFor(() => link.isConnected, { what: 'welcome on the second' });
    assert.ok(Date.now() - killedAt < 2000, `failover within the jitter (${Date.now() - killedAt} ms)`);
    const lastOnFirst = first.got.at(-1)!;
    const hello = second.got.find((m) => m.type === 'hello')!;
    assert.equal(hello.bootId, lastOnFirst.bootId, 'the same boot carries over');
    assert.ok(hello.seq > lastOnFirst.seq, 'and its sequence keeps growing');

    // The first comes back on its port: after failbackMs the link probes it and goes back.
    revived = new Peer(ca);
    await revived.listen(first.port);
    await waitFor(() => revived!.got.some((m) => m.type === 'hello'), { what: 'hello back on the first server', timeoutMs: 8000 });
    await waitFor(() => second.closes.length > 0, { what: 'the second connection closed' });
    assert.deepEqual(second.closes, [CloseCode.MOVING], 'left with MOVING, so the server does not alarm');
    await waitFor(() => link.isConnected && link.serverUrl === firstUrl, { what: 'connected to the first again' });
  } finally {
    await link.stop('test over', 500);
    second.https.close();
    second.https.closeAllConnections();
    revived?.https.close();
    revived?.https.closeAllConnections();
  }
});

test('a link whose first server is gone at start goes to the second at once', async () => {
  const ca = createCa('Test CA');
  const agKey = generateRsaKeyPair();
  const identity = {
    keyPem: agKey.privateKeyPem,
    certPem: issueCertificate({ ca, publicKeyPem: agKey.publicKeyPem, commonName: 'mike', names: [], usage: 'client' }),
    caPem: ca.certPem,
  };
  const second = new Peer(ca);
  const secondUrl = await second.listen();
  // A port with no listener: connection refused at once.
  const gone = new Peer(ca);
  const goneUrl = await gone.listen();
  await new Promise<void>((r) => gone.https.close(() => r()));
  const link = new AgentLink({
    url: [goneUrl, secondUrl],
    failbackMs: 0,
    identity,
    clock: systemClock,
    log: silentLogger(),
    intervalMs: 200,
    jitterMs: 0,
    agentVersion: 't',
    facts: () => ({ hostname: 'mike', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 }),
  });
  try {
    link.start();
    await waitFor(() => link.isConnected, { what: 'connected to the second', timeoutMs: 5000 });
    assert.equal(link.serverUrl, secondUrl);
  } finally {
    await link.stop('test over', 500);
    second.https.close();
    second.https.closeAllConnections();
  }
});
