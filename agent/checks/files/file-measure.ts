import type { BigIntStats } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileClass, FileEntry } from '../../../shared/protocol.ts';
import type { Hasher } from '../../hashing/hash-pool.ts';

function typeOf(st: BigIntStats): FileEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

/** How a full scan may hash a regular file other than through the niced pool. */
export interface ScanHashing {
  /** The content hash still known for this file (a running executable unchanged since it was hashed), or undefined to read it. */
  reuse?(st: BigIntStats): string | undefined;
  /** Whether to hash it on this thread, after yielding to the event loop, instead of in the pool. */
  inline?(size: number): boolean;
}

/**
 * Measures one path without following a final symlink: metadata from lstat
 * (ns times, exact inode), the SHA-256 of a regular file, a symlink's target.
 * Returns null when the path does not exist. `now` hashes at normal priority
 * on the calling thread (after an event); otherwise the niced pool is used,
 * unless `scan` says the hash is known or the file is small enough to hash here.
 */
export async function measurePath(path: string, cls: FileClass, hasher: Hasher, now: boolean, scan?: ScanHashing): Promise<FileEntry | null> {
  let st: BigIntStats;
  try {
    // After an event, stay on this thread: a trip through libuv's pool costs
    // more than the lstat itself, and this is the path to the alarm.
    st = now ? lstatSync(path, { bigint: true }) : await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  const e: FileEntry = {
    path,
    class: cls,
    type: typeOf(st),
    size: Number(st.size),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    ino: st.ino.toString(),
    nlink: Number(st.nlink),
    mtime: st.mtimeNs.toString(),
    ctime: st.ctimeNs.toString(),
  };
  if (e.type === 'symlink') {
    try {
      e.target = (now ? readlinkSync(path) : await readlink(path)).slice(0, 4096);
    } catch (err) {
      e.error = String((err as Error).message).slice(0, 200);
    }
  } else if (e.type === 'file') {
    const known = now ? undefined : scan?.reuse?.(st);
    if (known) return { ...e, sha256: known };
    try {
      let r;
      if (now && e.size <= 16 << 20) r = await hasher.hashNow(path);
      else if (!now && scan?.inline?.(e.size)) {
        // One file per turn of the loop: events and heartbeats wait for one small file at most.
        await new Promise((res) => setImmediate(res));
        r = await hasher.hashNow(path);
      } else r = await hasher.hash(path);
      e.sha256 = r.sha256;
      // The content read is what counts: a write between lstat and read shows in size too.
      e.size = r.size;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (code === 'ENOENT') return null;
      e.error = `cannot read: ${code}`.slice(0, 200);
    }
  }
  return e;
}

/**
 * The paths under a directory: direct entries, or every level when
 * `recursive` (symlinked directories are entries, never followed).
 * Stops at `limit` paths.
 */
export async function listTree(dir: string, recursive: boolean, limit: number): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length && out.length < limit) {
    const d = stack.pop()!;
    let ents;
    try {
      ents = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const ent of ents) {
      const p = join(d, ent.name);
      out.push(p);
      if (recursive && ent.isDirectory()) stack.push(p);
      if (out.length >= limit) break;
    }
  }
  return out;
}
