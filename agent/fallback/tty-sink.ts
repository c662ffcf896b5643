import { DeviceWriter } from './device-writer.ts';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/**
 * A serial line or console (/dev/ttyS0, /dev/console, a pseudo-terminal): a
 * cable to another machine or a screen, which an intruder on this host
 * cannot take back. Lines end in CR LF for terminals in raw mode.
 */
export class TtySink implements FallbackSink {
  private readonly dev: DeviceWriter;
  constructor(readonly name: string) {
    this.dev = new DeviceWriter(name, '\r\n');
  }
  write(lines: FallbackLine[]): void {
    this.dev.write(lines.map((l) => l.text));
  }
  close(): void {
    this.dev.close();
  }
}

export const ttySinkFactory: SinkFactory = {
  describe: 'a serial or console device (/dev/tty*, /dev/pts/*, /dev/console)',
  matches: (spec) => /^\/dev\/(tty[^/]*|pts\/\d+|console)$/.test(spec),
  create: (spec) => new TtySink(spec),
};
