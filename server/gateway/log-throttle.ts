/**
 * At most one log line per period for a kind of error that can come from every connection at once (a full
 * disk under a thousand heartbeats a second); the lines held back are counted and reported with the next.
 */
export class LogThrottle {
  private at = -Infinity;
  private suppressed = 0;

  /** @param periodMs the least time between two lines, in ms. */
  constructor(private readonly periodMs: number) {}

  /** At `now` (ms): null to stay quiet, or how many lines were held back since the last one to log. */
  take(now: number): number | null {
    if (now - this.at < this.periodMs) {
      this.suppressed++;
      return null;
    }
    const n = this.suppressed;
    this.at = now;
    this.suppressed = 0;
    return n;
  }
}
