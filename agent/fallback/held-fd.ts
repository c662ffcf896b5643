import { closeSync } from 'node:fs';

/**
 * A file descriptor opened on first use and kept: a sink writes every batch
 * through the same one. After a failed write it is closed, so the next batch
 * reopens the path (a device unplugged and back, a file rotated away).
 */
export class HeldFd {
  private fd = -1;

  constructor(private readonly open: () => number) {}

  /** Runs `write` with the descriptor, opening it first when needed; a throw closes it and is rethrown. */
  use(write: (fd: number) => void): void {
    if (this.fd < 0) this.fd = this.open();
    try {
      write(this.fd);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0)
      try {
        closeSync(this.fd);
      } catch {
        /* already gone */
      }
    this.fd = -1;
  }
}
