import { fileSinkFactory } from './file-sink.ts';
import { kmsgSinkFactory } from './kmsg-sink.ts';
import { localSyslogSinkFactory } from './local-syslog-sink.ts';
import { printerSinkFactory } from './printer-sink.ts';
import { remoteSyslogSinkFactory } from './remote-syslog-sink.ts';
import type { FallbackSink, SinkContext, SinkFactory } from './sink.ts';
import { ttySinkFactory } from './tty-sink.ts';

/** Every fallback sink, first match wins: devices by name, then syslog, then any other path as a file. */
export const SINKS: readonly SinkFactory[] = [kmsgSinkFactory, ttySinkFactory, printerSinkFactory, localSyslogSinkFactory, remoteSyslogSinkFactory, fileSinkFactory];

/** Creates the sink for one `fallback:` entry; throws naming what is supported. */
export function createSink(spec: string, ctx: SinkContext): FallbackSink {
  const f = SINKS.find((s) => s.matches(spec));
  if (!f) throw new Error(`fallback "${spec}" is none of: ${SINKS.map((s) => s.describe).join('; ')}`);
  return f.create(spec, ctx);
}
