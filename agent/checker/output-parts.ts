import { CHECKER_OUTPUT_PART_BYTES, type CheckerOutputBody } from '../../shared/checker-messages.ts';

/** Most raw output one run sends, in bytes (UTF-8); beyond it the output is cut and the last part says so. */
export const MAX_CHECKER_OUTPUT_BYTES = 1 << 20;

/**
 * Cuts a run's raw output into `checker-output` bodies of at most
 * {@link CHECKER_OUTPUT_PART_BYTES} bytes each (never inside a UTF-8
 * character), numbered from 0, handing each full one over as it fills; the
 * whole is capped at `maxBytes`, and the last part ends with a line saying
 * how much was left out.
 */
export class OutputParts {
  private pending = Buffer.alloc(0);
  private part = 0;
  private total = 0;
  private dropped = 0;

  constructor(
    private readonly runId: string,
    private readonly emit: (body: CheckerOutputBody) => void,
    private readonly maxBytes = MAX_CHECKER_OUTPUT_BYTES,
  ) {}

  /** Parts handed over so far. */
  get parts(): number {
    return this.part;
  }

  write(text: string): void {
    if (!text) return;
    let b = Buffer.from(text, 'utf8');
    const room = this.maxBytes - this.total;
    if (b.length > room) {
      this.dropped += b.length - Math.max(0, room);
      b = b.subarray(0, utf8Cut(b, Math.max(0, room)));
    }
    this.total += b.length;
    this.pending = this.pending.length ? Buffer.concat([this.pending, b]) : b;
    while (this.pending.length >= CHECKER_OUTPUT_PART_BYTES) {
      const cut = utf8Cut(this.pending, CHECKER_OUTPUT_PART_BYTES);
      this.flush(this.pending.subarray(0, cut));
      this.pending = this.pending.subarray(cut);
    }
  }

  /** Hands over what is left, with the note on what was cut. */
  end(): void {
    if (this.dropped > 0) {
      const note = Buffer.from(`\n[tripwarden: output cut at ${this.maxBytes} bytes; ${this.dropped} more bytes not sent]\n`);
      if (this.pending.length + note.length > CHECKER_OUTPUT_PART_BYTES) {
        this.flush(this.pending);
        this.pending = Buffer.alloc(0);
      }
      this.pending = Buffer.concat([this.pending, note]);
      this.dropped = 0;
    }
    if (this.pending.length) this.flush(this.pending);
    this.pending = Buffer.alloc(0);
  }

  private flush(b: Buffer): void {
    if (!b.length) return;
    this.emit({ kind: 'checker-output', runId: this.runId, part: this.part++, text: b.toString('utf8') });
  }
}

/** The largest length ≤ `max` at which `b` can be cut without splitting a UTF-8 character. */
function utf8Cut(b: Buffer, max: number): number {
  if (max >= b.length) return b.length;
  let i = max;
  while (i > 0 && (b[i]! & 0xc0) === 0x80) i--;
  return i;
}
