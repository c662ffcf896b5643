import { closeSync, constants, openSync, writeSync } from 'node:fs';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/** The kernel's message size limit is about 1 KiB per write; longer lines are cut. */
const MAX_KMSG = 900;

/**
 * The kernel log: each write(2) to /dev/kmsg is one message, with a kernel log
 * priority prefix (`<2>` critical, `<4>` warning). It survives in dmesg and the
 * journal, and a serial console configured for kernel messages prints it too.
 */
export class KmsgSink implements FallbackSink {
  private fd = -1;
  constructor(readonly name: string) {}

  write(lines: FallbackLine[]): void {
    if (this.fd < 0) this.fd = openSync(this.name, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      for (const l of lines) writeSync(this.fd, `<${l.severity === 'critical' ? 2 : 4}>${l.text.slice(0, MAX_KMSG)}\n`);
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

export const kmsgSinkFactory: SinkFactory = {
  describe: '/dev/kmsg',
  matches: (spec) => spec === '/dev/kmsg',
  create: (spec) => new KmsgSink(spec),
};
