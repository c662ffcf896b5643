import { constants, openSync, writeSync } from 'node:fs';
import { HeldFd } from './held-fd.ts';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/** The kernel's message size limit is about 1 KiB per write; longer lines are cut. */
const MAX_KMSG = 900;

/**
 * The kernel log: each write(2) to /dev/kmsg is one message, with a kernel log
 * priority prefix (`<2>` critical, `<4>` warning). It survives in dmesg and the
 * journal, and a serial console configured for kernel messages prints it too.
 */
export class KmsgSink implements FallbackSink {
  private readonly fd: HeldFd;

  constructor(readonly name: string) {
    this.fd = new HeldFd(() => openSync(name, constants.O_WRONLY | constants.O_NONBLOCK));
  }

  write(lines: FallbackLine[]): void {
    this.fd.use((fd) => {
      for (const l of lines) writeSync(fd, `<${l.severity === 'critical' ? 2 : 4}>${l.text.slice(0, MAX_KMSG)}\n`);
    });
  }

  close(): void {
    this.fd.close();
  }
}

export const kmsgSinkFactory: SinkFactory = {
  describe: '/dev/kmsg',
  matches: (spec) => spec === '/dev/kmsg',
  create: (spec) => new KmsgSink(spec),
};
