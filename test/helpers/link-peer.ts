import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { Identity } from '../../agent/identity/state-files.ts';
import { createCa, generateRsaKeyPair, issueCertificate } from '../../server/trust/ca.ts';

/**
 * A bare mutual-TLS WebSocket endpoint on loopback for AgentLink tests (the
 * test scripts its answers), and an agent identity from the same fresh CA.
 */
export async function linkPeer(agentHost: string): Promise<{ https: Server; wss: WebSocketServer; url: string; identity: Identity; close(): void }> {
  const ca = createCa('Test CA');
  const srvKey = generateRsaKeyPair();
  const srvCert = issueCertificate({ ca, publicKeyPem: srvKey.publicKeyPem, commonName: '127.0.0.1', names: ['127.0.0.1'], usage: 'server' });
  const agKey = generateRsaKeyPair();
  const agCert = issueCertificate({ ca, publicKeyPem: agKey.publicKeyPem, commonName: agentHost, names: [], usage: 'client' });
  const https = createServer({ key: srvKey.privateKeyPem, cert: srvCert, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
  const wss = new WebSocketServer({ server: https });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
  return {
    https,
    wss,
    url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}`,
    identity: { keyPem: agKey.privateKeyPem, certPem: agCert, caPem: ca.certPem },
    close: () => {
      wss.close();
      https.close();
    },
  };
}
