import { DeviceWriter } from './device-writer.ts';
import type { FallbackLine, FallbackSink, SinkFactory } from './sink.ts';

/** A local line printer (/dev/lp0, /dev/usb/lp0): paper is the most write-only medium there is. */
export class PrinterSink implements FallbackSink {
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

export const printerSinkFactory: SinkFactory = {
  describe: 'a printer device (/dev/lp*, /dev/usb/lp*)',
  matches: (spec) => /^\/dev\/(usb\/)?lp\d+$/.test(spec),
  create: (spec) => new PrinterSink(spec),
};
