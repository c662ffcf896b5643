import { accessSync, constants } from 'node:fs';
import type { Logger } from '../../shared/log.ts';
import type { SpoolRecord } from '../../shared/protocol.ts';
import { findingLines } from './finding-lines.ts';
import { createSink } from './registry.ts';
import type { FallbackSink } from './sink.ts';

/** The `fallback:` list when the config has none: the kernel log, where this process may write it. */
export function defaultFallback(): string[] {
  try {
    accessSync('/dev/kmsg', constants.W_OK);
    return ['/dev/kmsg'];
  } catch {
    return [];
  }
}

export interface FallbackWriterOptions {
  specs: readonly string[];
  log: Logger;
  /** The host name the lines carry (the certificate's). */
  host: string;
  /** A sink failed (once per sink): the runner spools a note so the server hears of it when the link returns. */
  onSinkFailed?: (spec: string, message: string) => void;
}

/**
 * Writes every finding made while the server is unreachable to each fallback
 * sink at once. A failing sink is reported once (log and `onSinkFailed`), not
 * on every line; the others carry on.
 */
export class FallbackWriter {
  private readonly sinks: FallbackSink[] = [];
  private readonly failed = new Set<string>();

  constructor(private readonly o: FallbackWriterOptions) {
    for (const spec of o.specs) {
      try {
        this.sinks.push(createSink(spec, { fail: (m) => this.fail(spec, m) }));
      } catch (err) {
        this.fail(spec, (err as Error).message);
      }
    }
  }

  get names(): string[] {
    return this.sinks.map((s) => s.name);
  }

  /** Writes one record's findings to every sink. */
  writeRecord(rec: SpoolRecord): void {
    const lines = findingLines(this.o.host, rec);
    for (const s of this.sinks) {
      try {
        s.write(lines);
      } catch (err) {
        this.fail(s.name, (err as Error).message);
      }
    }
  }

  private fail(spec: string, message: string): void {
    if (this.failed.has(spec)) return;
    this.failed.add(spec);
    this.o.log.error({ sink: spec, err: message }, 'fallback sink failed; not reporting it again');
    this.o.onSinkFailed?.(spec, message);
  }

  close(): void {
    for (const s of this.sinks) s.close();
  }
}
