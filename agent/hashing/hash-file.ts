import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Read size for hashing: large enough that the per-call cost vanishes next to SHA-256 itself. */
export const HASH_CHUNK_BYTES = 1 << 20;
/**
 * The calling thread's reads are synchronous, so a quarter of that costs nothing measurable, and this buffer,
 * unlike the per-call one below, stays resident for the agent's life.
 */
const SYNC_CHUNK_BYTES = 256 << 10;
let buf: Buffer | undefined;

/** O_NOFOLLOW unless `follow` (for /proc/PID/exe, a magic link to the image a process runs); O_NONBLOCK against FIFOs. */
const openFlags = (follow?: boolean) => constants.O_RDONLY | (follow ? 0 : constants.O_NOFOLLOW) | constants.O_NONBLOCK;

/**
 * SHA-256 (hex) of a regular file, read in chunks on the calling thread.
 * Opened with O_NOFOLLOW|O_NONBLOCK so a swapped-in symlink or FIFO cannot
 * redirect or hang the read. Throws the fs error when the file cannot be read.
 */
export function hashFileSync(path: string, opts: { follow?: boolean } = {}): { sha256: string; size: number } {
  const fd = openSync(path, openFlags(opts.follow));
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
    buf ??= Buffer.allocUnsafe(SYNC_CHUNK_BYTES);
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    return { sha256: h.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/**
 * SHA-256 (hex) of a regular file like {@link hashFileSync}, but read with
 * asynchronous reads (libuv's thread pool): the event loop runs between the
 * chunks, e.g. a TLS handshake proceeds while a large file is hashed.
 */
export async function hashFile(path: string, opts: { follow?: boolean } = {}): Promise<{ sha256: string; size: number }> {
  const fh = await open(path, openFlags(opts.follow));
  try {
    if (!(await fh.stat()).isFile()) throw new Error('not a regular file');
    const chunk = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const { bytesRead: n } = await fh.read(chunk, 0, chunk.length, null);
      if (n === 0) break;
      h.update(n === chunk.length ? chunk : chunk.subarray(0, n));
      size += n;
    }
    return { sha256: h.digest('hex'), size };
  } finally {
    await fh.close();
  }
}
