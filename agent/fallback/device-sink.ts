import { DeviceWriter } from './device-writer.ts';
import type { FallbackLine, FallbackSink } from './sink.ts';

/**
 * A character device that takes lines and keeps them off this host's disk: a
 * serial line or console, or a printer. Lines end in CR LF (terminals in raw
 * mode and line printers both want it).
 */
export class DeviceSink implements FallbackSink {
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
