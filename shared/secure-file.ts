import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Creates a directory (and parents) readable only by the owner (0700). */
export function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes a file atomically with mode 0600 (or `mode`): a temporary sibling is
 * written and fsync'd, then renamed over the target, so a crash leaves either
 * the old or the new content, never half of one.
 */
export function writeFilePrivate(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode); // the umask may have narrowed or, for 0644, widened nothing; be exact
  renameSync(tmp, path);
}

/** Like {@link writeFilePrivate} but refuses to replace an existing file. */
export function createFilePrivate(path: string, data: string | Uint8Array, mode = 0o600): void {
  if (existsSync(path)) throw new Error(`${path} already exists`);
  writeFilePrivate(path, data, mode);
}
