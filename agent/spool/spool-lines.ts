import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/**
 * Calls `fn` for each complete line of a file from byte `start`, reading in
 * 64 KiB chunks so memory stays bounded whatever the file's size. `fn`
 * returns false to stop early. Returns the offset after the last line read.
 * A final line without a newline (a write cut short by a crash) is ignored.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing means "go on"
export function forEachLine(path: string, start: number, fn: (line: string, end: number) => boolean | void): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = Buffer.alloc(0);
    let pos = start;
    let lineStart = start;
    for (;;) {
      const got = readSync(fd, buf, 0, CHUNK, pos);
      if (got === 0) return lineStart;
      pos += got;
      let data = carry.length ? Buffer.concat([carry, buf.subarray(0, got)]) : buf.subarray(0, got);
      let i: number;
      while ((i = data.indexOf(10)) >= 0) {
        const line = data.subarray(0, i).toString('utf8');
        lineStart += i + 1;
        data = data.subarray(i + 1);
        if (fn(line, lineStart) === false) return lineStart;
      }
      carry = Buffer.from(data);
    }
  } finally {
    closeSync(fd);
  }
}
