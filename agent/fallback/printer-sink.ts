import { DeviceSink } from './device-sink.ts';
import type { SinkFactory } from './sink.ts';

/** A local line printer (/dev/lp0, /dev/usb/lp0): paper is the most write-only medium there is. */
export const printerSinkFactory: SinkFactory = {
  describe: 'a printer device (/dev/lp*, /dev/usb/lp*)',
  matches: (spec) => /^\/dev\/(usb\/)?lp\d+$/.test(spec),
  create: (spec) => new DeviceSink(spec),
};
