import { lstat } from 'node:fs/promises';
import { hashFile } from '../hashing/hash-file.ts';

/** Largest file hashed before a run, in bytes: a config naming `/proc/kcore` as its database must not hash forever. */
export const MAX_VERIFY_BYTES = 16 * 2 ** 30;

/** A file that differs from what the server expects (`actual` null: missing or unreadable; `expected` null: not in `expect`). */
export interface RefusedFile {
  path: string;
  expected: string | null;
  actual: string | null;
}

/** Most refused files one result names (the wire's limit). */
export const MAX_REFUSED = 64;

/**
 * Hashes each file now and compares it with the server's hashes: a file the
 * server sent no hash for, one that hashes differently, and one that cannot
 * be read (missing, a symlink swapped in, a FIFO, larger than
 * {@link MAX_VERIFY_BYTES}) are refused. Returns the
 * refused files, at most {@link MAX_REFUSED}; empty when all match.
 */
export async function verifyFiles(files: readonly string[], expect: readonly { path: string; sha256: string }[]): Promise<RefusedFile[]> {
  const want = new Map(expect.map((e) => [e.path, e.sha256]));
  const refused: RefusedFile[] = [];
  for (const path of files) {
    const expected = want.get(path) ?? null;
    let actual: string | null = null;
    try {
      if ((await lstat(path)).size <= MAX_VERIFY_BYTES) actual = (await hashFile(path)).sha256;
    } catch {
      /* missing or unreadable: refused below */
    }
    if (expected === null || actual !== expected) refused.push({ path, expected, actual });
    if (refused.length >= MAX_REFUSED) break;
  }
  return refused;
}
