import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TwError } from '../../shared/errors.ts';
import { storageError } from './db.ts';

/**
 * The catalogued error (TW_DISK_FULL, TW_DB_READONLY, TW_DB_CORRUPT) for a storage fault met by a write of
 * the running server, or null for any other error. SQLite reports a file system turned read-only or full
 * under an open database as a plain I/O error (SQLITE_IOERR_*), without the errno: then a probe file in the
 * data dir tells which it is.
 * @param dbPath the database file (its directory is the data dir).
 */
export function storageFault(err: unknown, dbPath: string): TwError | null {
  const mapped = storageError(err, dbPath);
  if (mapped instanceof TwError) return mapped;
  const code = String((err as { code?: unknown }).code ?? '');
  if (!code.startsWith('SQLITE_IOERR')) return null;
  const probed = probeWrite(join(dbPath, '..'));
  return probed ? (storageError(Object.assign(new Error((err as Error).message), { code: probed }), dbPath) as TwError) : null;
}

/** The errno code a small write in `dir` fails with, or null when it succeeds. */
function probeWrite(dir: string): string | null {
  const f = join(dir, `.write-probe-${process.pid}`);
  try {
    // A block's worth: an empty file fits on a full file system as long as an inode is free.
    writeFileSync(f, Buffer.alloc(4096));
    unlinkSync(f);
    return null;
  } catch (err) {
    try {
      unlinkSync(f);
    } catch {
      /* never made */
    }
    return String((err as NodeJS.ErrnoException).code ?? 'EIO');
  }
}

/** The one line a log gives a storage fault: `CODE: what was wrong; what to do`. */
export function faultLine(e: TwError): string {
  return `${e.code}: ${e.message}; ${e.todo}`;
}
