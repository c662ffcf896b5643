/**
 * The spool's hash chain, computed identically by the agent (when it appends)
 * and the server (when it verifies): each record's hash covers its number,
 * the previous record's hash, its origin, severity and body, so a record
 * edited, removed or reordered on disk no longer links.
 */
import { createHash } from 'node:crypto';
import type { SpoolRecord } from './protocol.ts';
import { canonicalJson } from './state-digest.ts';

/** The hash before the first record (n = 0). */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 (hex) over the canonical JSON of a record without its own hash. */
export function recordHash(r: Omit<SpoolRecord, 'hash'>): string {
  const { n, prev, origin, severity, body } = r;
  return createHash('sha256').update(canonicalJson({ n, prev, origin, severity, body })).digest('hex');
}

/** The first 12 hex digits of a hash: enough to match a fallback line with a stored record. */
export const shortHash = (h: string): string => h.slice(0, 12);
