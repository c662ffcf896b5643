import { spawnSync } from 'node:child_process';
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { HeldFd } from './held-fd.ts';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/**
 * An append-only file (any other absolute path): opened with 'a' (0600),
 * each line fsync'd. When running as root, `chattr +a` makes the file
 * append-only, so even root must first clear the attribute to rewrite it;
 * best effort (not every file system has the attribute, chattr may be missing).
 */
export class FileSink implements FallbackSink {
  private readonly fd: HeldFd;

  constructor(readonly name: string) {
    this.fd = new HeldFd(() => {
      const fd = openSync(name, 'a', 0o600);
      if (process.getuid?.() === 0) spawnSync('chattr', ['+a', name], { stdio: 'ignore', timeout: 2000 });
      return fd;
    });
  }

  write(lines: FallbackLine[]): void {
    this.fd.use((fd) => {
      writeSync(fd, lines.map((l) => `${l.text}\n`).join(''));
      fsyncSync(fd);
    });
  }

  close(): void {
    this.fd.close();
  }
}

export const fileSinkFactory: SinkFactory = {
  describe: 'an append-only file (any other absolute path)',
  matches: (spec) => spec.startsWith('/'),
  create: (spec) => new FileSink(spec),
};
