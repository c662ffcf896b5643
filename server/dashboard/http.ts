import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../gateway/http-body.ts';

/**
 * Strict CSP: scripts and styles only from our own files, no inline code,
 * no framing, forms post only to us. Agent-supplied text that escaped
 * escaping still could not run.
 */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Headers on every dashboard response. */
export function securityHeaders(https: boolean): Record<string, string> {
  return {
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    ...(https ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

/** Parses a Cookie header into name → value (first wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k && !out.has(k)) out.set(k, decodeURIComponent(part.slice(i + 1).trim()));
  }
  return out;
}

/** A Set-Cookie value: HttpOnly, SameSite=Strict, Path=/, Secure when served over HTTPS. */
export function cookie(name: string, value: string, o: { secure: boolean; maxAgeS?: number }): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    ...(o.secure ? ['Secure'] : []),
    ...(o.maxAgeS !== undefined ? [`Max-Age=${o.maxAgeS}`] : []),
  ].join('; ');
}

/** Reads an `application/x-www-form-urlencoded` body of at most `limit` bytes; null when too big. */
export async function readForm(req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams | null> {
  const body = await readBody(req, limit);
  return body === null ? null : new URLSearchParams(body);
}

/** Sends a complete response. */
export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** 303 See Other to a local path (never an absolute URL taken from input). */
export function redirect(res: ServerResponse, path: string, headers: Record<string, string | string[]> = {}): void {
  const safe = path.startsWith('/') && !path.startsWith('//') ? path : '/';
  res.writeHead(303, { location: safe, 'content-length': '0', ...headers });
  res.end();
}
