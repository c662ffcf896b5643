/**
 * The digest of a whole measured state, computed identically by the agent
 * (sent in each heartbeat) and the server (over what it stored), so a lost
 * event shows as a difference and the server asks for a full report.
 */
import { createHash } from 'node:crypto';
import type { DaemonEntry, FileEntry, MountEntry, PortEntry } from './protocol.ts';

export type EntryKind = 'file' | 'daemon' | 'mount' | 'port';

/** One measured item: its kind, its key (path or daemon name) and its value. */
export type Measured =
  | { kind: 'file'; key: string; value: FileEntry }
  | { kind: 'daemon'; key: string; value: DaemonEntry }
  | { kind: 'mount'; key: string; value: MountEntry }
  | { kind: 'port'; key: string; value: PortEntry };

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** SHA-256 (hex) over `kind, key, canonical value` of every item, sorted by kind then key. */
export function stateDigest(items: Iterable<{ kind: EntryKind; key: string; json: string }>): string {
  const all = [...items].sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const h = createHash('sha256');
  for (const it of all) h.update(`${it.kind}\0${it.key}\0${it.json}\n`);
  return h.digest('hex');
}

/** File fields compared with the baseline. */
export const FILE_FIELDS = ['type', 'sha256', 'size', 'mode', 'uid', 'gid', 'ino', 'nlink', 'mtime', 'ctime', 'target', 'error'] as const;
/** Fields of a directory that move with its entries; entries appearing or going are findings of their own. */
const DIR_VOLATILE = new Set<string>(['size', 'mtime', 'ctime', 'nlink']);

/** The fields that differ between two measurements of a path, old and new value each. */
export function fileChanges(before: FileEntry, after: FileEntry): Record<string, { old: unknown; new: unknown }> {
  const out: Record<string, { old: unknown; new: unknown }> = {};
  const dir = before.type === 'dir' && after.type === 'dir';
  for (const k of FILE_FIELDS) {
    if (dir && DIR_VOLATILE.has(k)) continue;
    if (before[k] !== after[k]) out[k] = { old: before[k] ?? null, new: after[k] ?? null };
  }
  return out;
}
