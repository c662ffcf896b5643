import { type RequestOptions, request } from 'node:https';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';

/**
 * Whether the server at `url` (wss://HOST:PORT) answers its health check (`GET /healthz`) over TLS with
 * the agent's identity and pinned CA within `timeoutMs`. Never throws. A server whose process is frozen
 * still completes TCP connects (the kernel does), so only an answer counts.
 */
export function probeServer(url: string, tls: { secureContext: SecureContext }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL('/healthz', url.replace(/^wss:/, 'https:'));
    } catch {
      return resolve(false);
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const req = request(
      {
        host,
        port: u.port ? Number(u.port) : 443,
        path: '/healthz',
        method: 'GET',
        secureContext: tls.secureContext,
        servername: isIP(host) ? '' : host,
        rejectUnauthorized: true,
        agent: false,
        timeout: timeoutMs,
      } as RequestOptions,
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    const cut = setTimeout(() => req.destroy(new Error('probe timed out')), timeoutMs);
    req.on('close', () => clearTimeout(cut));
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', () => resolve(false));
    req.end();
  });
}
