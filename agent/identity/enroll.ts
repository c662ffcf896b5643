import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type RequestOptions, request } from 'node:https';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { certFingerprint, normalizeFingerprint } from '../../shared/cert.ts';
import type { TwError } from '../../shared/errors.ts';
import { EnrollResponse, validate } from '../../shared/protocol.ts';
import { mkdirPrivate, writeFilePrivate } from '../../shared/secure-file.ts';
import { type AgentConfig, loadAgentConfig, serverAddress } from '../config.ts';
import { agentError } from '../errors.ts';
import { createKeyAndCsr } from './csr.ts';
import { statePaths } from './state-files.ts';

export interface EnrollOptions {
  server: string;
  token: string;
  caSha256: string;
  configPath: string;
  timeoutMs?: number;
}

interface HttpResult {
  status: number;
  body: string;
}

function httpsCall(opts: RequestOptions, body: string | null, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ ...opts, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) req.destroy(new Error('response too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/**
 * Reads the config, which must exist: a mistyped --config must not spend the token on a config
 * made up here, with the key put in a state dir nobody chose.
 */
function configFor(o: EnrollOptions): AgentConfig {
  if (!existsSync(o.configPath)) throw agentError('TW_CONFIG_MISSING', `--config ${o.configPath} does not exist`);
  const cfg = loadAgentConfig(o.configPath);
  const norm = (u: string) => u.replace(/\/$/, '');
  if (norm(cfg.server) !== norm(o.server)) {
    throw agentError('TW_SERVER_MISMATCH', `config ${o.configPath} names server ${cfg.server}, not ${o.server}`);
  }
  return cfg;
}

/**
 * The error for a server certificate that does not name the host in --server (TLS checks the name),
 * with the names it does carry; undefined for any other failure.
 */
function nameMismatch(err: unknown, host: string): TwError | undefined {
  const e = err as { code?: string; cert?: { subjectaltname?: string } };
  if (e?.code !== 'ERR_TLS_CERT_ALTNAME_INVALID') return undefined;
  const names = (e.cert?.subjectaltname ?? '').replace(/(?:DNS|IP Address):/g, '') || 'no names';
  return agentError('TW_SERVER_NAME_MISMATCH', `the server certificate does not name ${host}; it names ${names}`);
}

/**
 * Enrolls this host: fetches the server's CA and checks it against the pinned
 * fingerprint, makes a key pair here, sends a CSR with the token over TLS that
 * trusts only that CA, and stores key, certificate and CA in the state dir.
 */
export async function enroll(o: EnrollOptions): Promise<{ host: string; stateDir: string }> {
  const cfg = configFor(o);
  const { host, port } = serverAddress(cfg.server);
  const timeout = o.timeoutMs ?? 15_000;
  const unreachable = (err: unknown) => nameMismatch(err, host) ?? agentError('TW_ENROLL_UNREACHABLE', `cannot reach ${host}:${port} (${(err as Error).message})`);

  // 1. The CA, fetched without trust and then pinned: nothing else is believed until it matches.
  let caPem: string;
  try {
    const r = await httpsCall({ host, port, path: '/ca.pem', method: 'GET', rejectUnauthorized: false }, null, timeout);
    if (r.status !== 200) throw new Error(`HTTP ${r.status} for /ca.pem`);
    caPem = r.body;
  } catch (err) {
    throw unreachable(err);
  }
  let got: string;
  try {
    got = certFingerprint(caPem);
  } catch {
    throw agentError('TW_ENROLL_PIN', 'the server sent no valid CA certificate');
  }
  if (normalizeFingerprint(got) !== normalizeFingerprint(o.caSha256)) {
    throw agentError('TW_ENROLL_PIN', `the server's CA is ${got}, not the pinned --ca-sha256`);
  }

  // 2. Key pair here, CSR with the token over TLS that trusts only the pinned CA.
  const { keyPem, csrPem } = createKeyAndCsr(hostname());
  let r: HttpResult;
  try {
    r = await httpsCall(
      {
        host,
        port,
        path: '/enroll',
        method: 'POST',
        ca: caPem,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        servername: isIP(host) ? undefined : host,
        headers: { 'content-type': 'application/json' },
      },
      JSON.stringify({ token: o.token, csr: csrPem }),
      timeout,
    );
  } catch (err) {
    throw unreachable(err);
  }
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    body = null;
  }
  if (r.status !== 200) {
    const why = body && typeof body === 'object' && 'error' in body ? String((body as { error: unknown }).error) : `HTTP ${r.status}`;
    throw agentError('TW_ENROLL_REFUSED', `enrollment refused: ${why.slice(0, 300)}`);
  }
  const v = validate(EnrollResponse, body);
  if (!v.ok) throw agentError('TW_ENROLL_REFUSED', `the server's answer is malformed (${v.error})`);

  // 3. The certificate must be for our key and signed by the pinned CA (OpenSSL checks both).
  const cert = new X509Certificate(v.value.certificate);
  const ca = new X509Certificate(caPem);
  if (!cert.verify(ca.publicKey) || !cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw agentError('TW_ENROLL_REFUSED', 'the certificate the server sent is not for this key or not signed by the pinned CA');
  }
  mkdirPrivate(cfg.stateDir);
  const p = statePaths(cfg.stateDir);
  writeFilePrivate(p.key, keyPem);
  writeFilePrivate(p.cert, v.value.certificate);
  writeFilePrivate(p.ca, caPem);
  return { host: v.value.host, stateDir: cfg.stateDir };
}
