/**
 * The load benchmark's reference: the raw `ws` library over the same TLS
 * setup as the gateway (the data dir's server certificate, client
 * certificates required and verified against its CA, TLS ≥ 1.2, the same
 * ticket settings) answering the same frames with the same replies —
 * `welcome` to `hello`, `ack` to a `heartbeat` that asks for one (`wantAck`) and to `goodbye`, `spool-ack` to a spooled `record`
 * (a `report` gets no reply, as from the server) — after JSON.parse, with no
 * schema, no SQLite and no alarms. What is left is the floor: TLS, framing
 * and JSON.
 *
 * `node --import tsx bench/reference/echo-server.ts --dir D --port P`
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { ticketOptions } from '../../server/gateway/tls-tickets.ts';

const { values } = parseArgs({ options: { dir: { type: 'string' }, port: { type: 'string', default: '0' } } });
const dir = values.dir!;
const r = (f: string) => readFileSync(join(dir, f), 'utf8');
const server = createServer({
  key: r('server.key'),
  cert: r('server.crt'),
  ca: r('ca.crt'),
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
  ...ticketOptions(r('ca.key')),
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const tls = socket as TLSSocket;
  if (!tls.authorized) return socket.destroy();
  const host = String(tls.getPeerCertificate().subject?.CN ?? '');
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let m: { type?: string; seq?: number; wantAck?: boolean; record?: { n?: number; hash?: string } };
      try {
        m = JSON.parse(String(data));
      } catch {
        return ws.close(4000, 'not JSON');
      }
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', host, serverTime: Date.now(), interval: 10_000 }));
      else if (m.type === 'record') ws.send(JSON.stringify({ type: 'spool-ack', n: m.record?.n, hash: m.record?.hash }));
      else if (m.type === 'heartbeat' ? m.wantAck === true : m.type !== 'report') ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
  });
});
server.on('clientError', (_e, s) => s.destroy());
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'serving', port: (server.address() as { port: number }).port }));
});
process.once('SIGTERM', () => process.exit(0));
