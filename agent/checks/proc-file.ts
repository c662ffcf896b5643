import { closeSync, openSync, readSync } from 'node:fs';

/** The buffer every read goes through; grown for a long file, given back once one is done with. */
const SMALL = 16 * 1024;
let shared = Buffer.allocUnsafeSlow(SMALL);

/**
 * A `/proc` or `/sys` file kept open and read again in place (`pread` from offset 0, which makes the kernel
 * print it afresh). Opening such a file is most of what reading it costs an idle agent: on a cycle,
 * `readFileSync` of `/proc/net/sockstat` cost ~480 µs of CPU and a re-read of the kept file ~140 µs.
 * A read that fails (the file's process or interface gone) closes the file and opens the path once more,
 * so a file recreated under the same path is read, not reported gone.
 */
export class ProcFile {
  private fd: number | null = null;

  constructor(readonly path: string) {}

  /** The whole text. Throws as `readFileSync` does (ENOENT, EACCES) when the path cannot be read. */
  read(encoding: 'utf8' | 'latin1' = 'utf8'): string {
    let n = 0;
    this.each((_buf, len) => {
      n = len;
      return true;
    });
    const text = shared.toString(encoding, 0, n);
    if (shared.length > 4 * SMALL) shared = Buffer.allocUnsafeSlow(SMALL);
    return text;
  }

  /**
   * Reads `chunk` bytes at a time from the start, handing over the text read so far (latin1) after each
   * read until `more` returns false or the file ends; returns that text.
   */
  readWhile(chunk: number, more: (text: string) => boolean): string {
    let text = '';
    this.each((buf, len, got) => {
      text += buf.toString('latin1', len - got, len);
      return more(text);
    }, chunk);
    return text;
  }

  /** Reads from offset 0 into the shared buffer; `step` gets it, the bytes so far and those just read, and says whether to go on. */
  private each(step: (buf: Buffer, len: number, got: number) => boolean, chunk?: number): void {
    for (let attempt = 0; ; attempt++) {
      const fresh = this.fd === null;
      this.fd ??= openSync(this.path, 'r');
      try {
        let len = 0;
        for (;;) {
          if (len === shared.length) {
            const bigger = Buffer.allocUnsafeSlow(shared.length * 2);
            shared.copy(bigger, 0, 0, len);
            shared = bigger;
          }
          const got = readSync(this.fd, shared, len, Math.min(chunk ?? Infinity, shared.length - len), len);
          len += got;
          if (got === 0 || !step(shared, len, got)) return;
        }
      } catch (err) {
        this.close();
        if (fresh || attempt > 0) throw err;
      }
    }
  }

  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      /* closed already */
    }
    this.fd = null;
  }
}
