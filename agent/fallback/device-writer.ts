import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * Writes lines to a character device opened once, write-only, without
 * becoming its controlling terminal and without blocking: a console nobody
 * reads or a printer out of paper must not stall the agent (a full device
 * gives EAGAIN, reported as a failure). The device is reopened after an error.
 */
export class DeviceWriter {
  private fd = -1;

  constructor(
    private readonly path: string,
    private readonly eol: string,
  ) {}

  write(texts: string[]): void {
    if (this.fd < 0) this.fd = openSync(this.path, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK | constants.O_APPEND);
    try {
      for (const t of texts) writeSync(this.fd, t + this.eol);
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
