import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/**
 * An append-only file (any other absolute path): opened with 'a' (0600),
 * each line fsync'd. When running as root, `chattr +a` makes the file
 * append-only, so even root must first clear the attribute to rewrite it;
 * best effort (not every file system has the attribute, chattr may be missing).
 */
export class FileSink implements FallbackSink {
  private fd = -1;
  constructor(readonly name: string) {}

  write(lines: FallbackLine[]): void {
    if (this.fd < 0) {
      this.fd = openSync(this.name, 'a', 0o600);
      if (process.getuid?.() === 0) spawnSync('chattr', ['+a', this.name], { stdio: 'ignore', timeout: 2000 });
    }
    try {
      writeSync(this.fd, lines.map((l) => `${l.text}\n`).join(''));
      fsyncSync(this.fd);
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
        /* gone */
      }
    this.fd = -1;
  }
}

export const fileSinkFactory: SinkFactory = {
  describe: 'an append-only file (any other absolute path)',
  matches: (spec) => spec.startsWith('/'),
  create: (spec) => new FileSink(spec),
};
