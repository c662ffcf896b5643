import { constants, openSync, writeSync } from 'node:fs';
import { HeldFd } from './held-fd.ts';

/**
 * Writes lines to a character device opened once, write-only, without
 * becoming its controlling terminal and without blocking: a console nobody
 * reads or a printer out of paper must not stall the agent (a full device
 * gives EAGAIN, reported as a failure). The device is reopened after an error.
 */
export class DeviceWriter {
  private readonly fd: HeldFd;

  constructor(
    path: string,
    private readonly eol: string,
  ) {
    this.fd = new HeldFd(() => openSync(path, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK | constants.O_APPEND));
  }

  write(texts: string[]): void {
    this.fd.use((fd) => {
      for (const t of texts) writeSync(fd, t + this.eol);
    });
  }

  close(): void {
    this.fd.close();
  }
}
