import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { TwError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { EnrollRequest, MAX_FRAME_BYTES, validate } from '../../shared/protocol.ts';
import { acceptsCertificate, type HostStore } from '../liveness/host-store.ts';
import { faultLine, storageFault } from '../storage/storage-fault.ts';
import type { KeyAndCert } from '../trust/ca.ts';
import { type EnrollmentDeps, enrollHost } from '../trust/enrollment.ts';
import { AddressLimiter } from './address-limiter.ts';
import { AgentSession, type SessionDeps } from './agent-session.ts';
import { countHandshakes } from './handshake-count.ts';
import { readBody } from './http-body.ts';
import { GATEWAY_TLS } from './tls-policy.ts';
import type { TicketOptions } from './tls-tickets.ts';

export interface GatewayDeps extends SessionDeps, EnrollmentDeps {
  serverCert: KeyAndCert;
  hosts: HostStore;
  log: Logger;
  /** Session ticket settings (tls-tickets.ts); without them tickets die with the process. */
  tickets?: TicketOptions;
}

const MAX_ENROLL_BODY = 32 * 1024;
/**
 * Connections without a verified certificate (enrollment, probes, scans) open
 * at once, and how long one may sit idle. Without these, a peer with no
 * certificate could hold thousands of sockets for the HTTP header timeout
 * (checked only every 30 s by Node) and starve agents of file descriptors.
 */
const MAX_UNAUTHENTICATED = 512;
const UNAUTHENTICATED_IDLE_MS = 10_000;
/**
 * ...and how long one may last in all, whatever it sends: a client dribbling a header or body byte at a time
 * resets the idle timeout, and Node checks its header timeout only every 30 s. An enrollment takes well under
 * a second.
 */
const UNAUTHENTICATED_MAX_MS = 10_000;
/**
 * Per source address, without a certificate: connections open at once and opened per minute. One address
 * must not take the slots every other host needs to enroll; a rollout behind one NAT enrolls a host or two
 * a second.
 */
const PER_ADDRESS = { maxOpen: 16, maxPerWindow: 120, windowMs: 60_000 };

/**
 * The agents' endpoint: HTTPS with client certificates, WebSocket at
 * `/agent`, enrollment at `POST /enroll`.
 *
 * Why `rejectUnauthorized: false`: enrollment happens on the same address
 * (the agent has no certificate yet), so the TLS layer must let a peer without
 * a certificate finish its handshake. In its place a peer that presents a
 * certificate which does not verify (another CA, expired) is dropped as soon
 * as the handshake ends, and only `POST /enroll` and `GET /ca.pem` are served
 * without a verified certificate; the WebSocket upgrade requires one, issued
 * by our CA, whose serial is the one on record for a host that is not revoked.
 */
export function createGateway(d: GatewayDeps): { server: Server; wss: WebSocketServer; handshakesInFlight: () => number } {
  const log = d.log.child({ component: 'gateway' });
  const server = createServer({
    key: d.serverCert.keyPem,
    cert: d.serverCert.certPem,
    ca: d.ca.certPem,
    requestCert: true,
    rejectUnauthorized: false,
    ...GATEWAY_TLS,
    handshakeTimeout: 10_000,
    // Headers and idle connections are bounded: slow clients must not hold sockets.
    requestTimeout: 15_000,
    headersTimeout: 10_000,
    keepAliveTimeout: 5_000,
    maxHeaderSize: 8 * 1024,
    ...d.tickets,
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });

  // TLS handshakes in flight: many at once is a reconnect storm (stall-watch.ts).
  const handshakesInFlight = countHandshakes(server);

  let unauthenticated = 0;
  const perAddress = new AddressLimiter(PER_ADDRESS);
  server.on('secureConnection', (sock: TLSSocket) => {
    sock.on('error', () => {});
    // Verified: the upgrade reads the certificate once. getPeerCertificate builds a whole object (8 % of a
    // reconnect storm's CPU when it ran for every connection), so only the others pay it here.
    if (sock.authorized) return;
    const peer = sock.getPeerCertificate();
    if (peer && Object.keys(peer).length > 0) {
      log.warn({ remote: sock.remoteAddress, reason: String(sock.authorizationError) }, 'client certificate refused');
      d.stats?.refuse('bad-certificate');
      sock.destroy();
      return;
    }
    if (unauthenticated >= MAX_UNAUTHENTICATED) {
      d.stats?.refuse('too-many-unauthenticated');
      sock.destroy();
      return;
    }
    const addr = sock.remoteAddress ?? '?';
    if (!perAddress.admit(addr, d.clock.now())) {
      d.stats?.refuse('rate-limited');
      sock.destroy();
      return;
    }
    unauthenticated++;
    // Socket lifetimes run on Node's own timers, as its handshake and header timeouts do.
    const cut = setTimeout(() => {
      d.stats?.refuse('idle-unauthenticated');
      sock.destroy();
    }, UNAUTHENTICATED_MAX_MS);
    sock.once('close', () => {
      unauthenticated--;
      perAddress.release(addr);
      clearTimeout(cut);
    });
    sock.setTimeout(UNAUTHENTICATED_IDLE_MS, () => {
      d.stats?.refuse('idle-unauthenticated');
      sock.destroy();
    });
  });
  server.on('tlsClientError', (err, sock) => {
    log.debug({ remote: sock.remoteAddress, err: err.message }, 'TLS handshake failed');
  });
  // https re-emits every tlsClientError as clientError (before our tlsClientError listener runs): count both kinds here.
  server.on('clientError', (err: NodeJS.ErrnoException & { library?: string }, sock) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') d.stats?.refuse('handshake-timeout');
    else if (err.library !== undefined || err.code?.startsWith('ERR_SSL') || err.code === 'ECONNRESET') d.stats?.refuse('tls-error');
    else d.stats?.refuse('http-error');
    sock.destroy();
  });

  server.on('request', (req, res) => {
    handleRequest(d, req, res).catch((err) => {
      log.error({ err: (err as Error).message }, 'request failed');
      if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    upgrade(req, socket, head).catch((err: unknown) => {
      socket.destroy();
      // The database gone (every reconnecting agent meets it): its catalogued line, at most every 10 s.
      const fault = storageFault(err, d.sql.name);
      if (!fault) return log.error({ err: (err as Error).message }, 'agent connection failed');
      const suppressed = d.storageLog.take(d.clock.now());
      if (suppressed !== null) log.error({ code: fault.code, err: (err as Error).message, suppressed, during: 'agent connection' }, faultLine(fault));
    });
  });

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const tls = socket as TLSSocket;
    const refuse = (status: number, why: string) => {
      d.stats?.refuse(status === 401 ? 'no-certificate' : status === 404 ? 'not-found' : 'unknown-certificate');
      log.warn({ remote: tls.remoteAddress, why }, 'agent connection refused');
      socket.end(`HTTP/1.1 ${status} ${why}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
    };
    if (!tls.authorized) return refuse(401, 'Client Certificate Required');
    if (req.url !== '/agent') return refuse(404, 'Not Found');
    // The X509 object reads only the three fields asked for: getPeerCertificate builds every field, three
    // fingerprints included, for each connection of a reconnect storm.
    const peer = tls.getPeerX509Certificate();
    if (!peer) return refuse(401, 'Client Certificate Required');
    const host = commonName(peer.subject);
    const rec = await d.hosts.certificate(host);
    // Gone while the host was read: nothing left to upgrade.
    if (socket.destroyed) return;
    if (!acceptsCertificate(rec, peer.serialNumber)) return refuse(403, 'Forbidden');
    // A resumed TLS session is not re-verified by OpenSSL: the certificate may have expired since the ticket was made.
    if (tls.isSessionReused() && !(Date.parse(peer.validTo) > d.clock.now())) return refuse(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => new AgentSession(host, ws, d, `${tls.remoteAddress ?? '?'}:${tls.remotePort ?? '?'}`, peer.serialNumber));
  };

  return { server, wss, handshakesInFlight };
}

/** The subject's one common name (`X509Certificate.subject`, a line per attribute), or '' for none or several. */
export function commonName(subject: string): string {
  const cns = subject.split('\n').filter((l) => l.startsWith('CN='));
  return cns.length === 1 ? cns[0]!.slice(3) : '';
}

function reply(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function handleRequest(d: GatewayDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url === '/ca.pem') return reply(res, 200, d.ca.certPem, 'application/x-pem-file');
  if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { ok: true });
  if (req.method !== 'POST' || req.url !== '/enroll') return reply(res, 404, { error: 'not found' });
  const body = await readBody(req, MAX_ENROLL_BODY);
  if (body === null) return reply(res, 413, { error: `enrollment request larger than ${MAX_ENROLL_BODY} bytes` });
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return reply(res, 400, { error: 'enrollment request is not JSON' });
  }
  const v = validate(EnrollRequest, data);
  if (!v.ok) return reply(res, 400, { error: `enrollment request: ${v.error}` });
  try {
    const out = await enrollHost(d, v.value);
    d.log.info({ host: out.host }, 'host enrolled');
    return reply(res, 200, out);
  } catch (err) {
    if (err instanceof TwError) {
      d.log.warn({ code: err.code }, 'enrollment refused');
      return reply(res, err.code === 'TW_HOST_EXISTS' ? 409 : 403, { error: err.message, code: err.code });
    }
    throw err;
  }
}
