/** One line for the fallback devices: `tripwarden: host=… kind=… subject=… hash=…`, and how bad it is. */
export interface FallbackLine {
  text: string;
  severity: 'critical' | 'warning';
}

/** What a sink is given: how to report a failure it only learns of later (an async write). */
export interface SinkContext {
  fail(message: string): void;
}

/**
 * A near write-only place to leave findings while the server cannot be
 * reached (kernel log, serial console, printer, syslog, append-only file).
 * `write` throws when it fails at once; later failures go to `ctx.fail`.
 */
export interface FallbackSink {
  /** The spec from the config (`/dev/kmsg`, `syslog+udp://…`). */
  readonly name: string;
  write(lines: FallbackLine[]): void;
  close(): void;
}

/** Creates a sink for the specs it claims; registered in `registry.ts`. */
export interface SinkFactory {
  /** What it writes to, for the error message of an unknown spec. */
  readonly describe: string;
  matches(spec: string): boolean;
  create(spec: string, ctx: SinkContext): FallbackSink;
}
