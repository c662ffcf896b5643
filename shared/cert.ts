import { createHash, X509Certificate } from 'node:crypto';

/** SHA-256 fingerprint of a PEM certificate, as OpenSSL prints it (`AB:CD:...`). */
export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Normalises a fingerprint typed by a person: case, colons and spaces do not matter. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[\s:]/g, '').toUpperCase();
}

/** SHA-256 hex digest of a buffer or string. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
