/**
 * At most `lines` log lines a period for what can come from every connection at once: an agent's hello (after a
 * server restart the whole fleet says hello within seconds, and each line, formatted, redacted and written
 * synchronously, was 8 % of a reconnect's CPU), or one line for an error such as a full disk under a thousand
 * heartbeats a second. The lines over the budget are counted, and the count rides on the next line logged.
 */
export class LogBudget {
  private periodStart = -Infinity;
  private used = 0;
  private heldBack = 0;

  /**
   * @param lines the lines logged in one period.
   * @param periodMs the period, in ms.
   */
  constructor(
    private readonly lines: number,
    private readonly periodMs: number,
  ) {}

  /** At `now` (ms): null when the budget is spent (the line is counted), else how many lines were held back before this one. */
  take(now: number): number | null {
    if (now - this.periodStart >= this.periodMs) {
      this.periodStart = now;
      this.used = 0;
    }
    if (this.used >= this.lines) {
      this.heldBack++;
      return null;
    }
    this.used++;
    const n = this.heldBack;
    this.heldBack = 0;
    return n;
  }
}
