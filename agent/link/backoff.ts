/**
 * Exponential backoff with full jitter (the AWS architecture blog's scheme):
 * the n-th retry waits a random time in [0, min(cap, base·2ⁿ)], so a fleet
 * that lost its server does not come back in lockstep. Never below `floorMs`.
 */
export class Backoff {
  private attempt = 0;
  constructor(private readonly o: { baseMs: number; capMs: number; floorMs?: number; random?: () => number }) {}

  next(): number {
    const ceiling = Math.min(this.o.capMs, this.o.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(this.o.floorMs ?? 0, Math.floor((this.o.random ?? Math.random)() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
