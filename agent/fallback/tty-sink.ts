import { DeviceSink } from './device-sink.ts';
import type { SinkFactory } from './sink.ts';

/**
 * A serial line or console (/dev/ttyS0, /dev/console, a pseudo-terminal): a
 * cable to another machine or a screen, which an intruder on this host
 * cannot take back.
 */
export const ttySinkFactory: SinkFactory = {
  describe: 'a serial or console device (/dev/tty*, /dev/pts/*, /dev/console)',
  matches: (spec) => /^\/dev\/(tty[^/]*|pts\/\d+|console)$/.test(spec),
  create: (spec) => new DeviceSink(spec),
};
