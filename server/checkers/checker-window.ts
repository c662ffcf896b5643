/** One day's checker window: `[start, end)` in ms since the epoch. */
export interface WindowSpan {
  start: number;
  end: number;
}

/**
 * The daily window of `checkerWindow` (`HH:MM-HH:MM`, local time; an end before the start crosses midnight).
 * Days are the server's local days, so the window follows its time zone, daylight saving included.
 */
export class CheckerWindow {
  private readonly startMin: number;
  private readonly lengthMin: number;

  constructor(readonly text: string) {
    const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(text);
    if (!m) throw new Error(`checker window "${text}" is not HH:MM-HH:MM`);
    this.startMin = Number(m[1]) * 60 + Number(m[2]);
    const endMin = Number(m[3]) * 60 + Number(m[4]);
    this.lengthMin = (endMin - this.startMin + 1440) % 1440 || 1440;
  }

  /** The window that opens on the local day containing `t`, shifted by `days`. */
  opening(t: number, days = 0): WindowSpan {
    const d = new Date(t);
    const start = new Date(d.getFullYear(), d.getMonth(), d.getDate() + days, Math.floor(this.startMin / 60), this.startMin % 60).getTime();
    return { start, end: start + this.lengthMin * 60_000 };
  }

  /**
   * The earliest window whose end plus `graceMs` is still after `now`: the one in progress, the one whose runs
   * may still report, or the next one.
   */
  current(now: number, graceMs: number): WindowSpan {
    for (let days = -2; days <= 1; days++) {
      const w = this.opening(now, days);
      if (w.end + graceMs > now) return w;
    }
    return this.opening(now, 1);
  }
}

/**
 * Moments for `n` runs spread over `[lo, hi)`: the span cut into `n` equal slots, each run at a random point of
 * its own slot, the slots dealt out in a random order. No two runs share a slot, so a fleet never starts its
 * checkers together, and a host's moment changes from day to day.
 * @param random uniform in [0, 1).
 */
export function stratify(n: number, lo: number, hi: number, random: () => number): number[] {
  const width = (hi - lo) / Math.max(1, n);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.map((slot) => Math.floor(lo + (slot + random()) * width));
}
