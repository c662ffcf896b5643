import type { Clock, TimerHandle } from '../../shared/clock.ts';

/** A clock that moves only when a test says so; timers fire from {@link ManualClock.advance}. */
export class ManualClock implements Clock {
  private timers = new Map<object, { at: number; fn: () => void; every?: number }>();
  constructor(public t = Date.UTC(2026, 0, 1, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = {};
    this.timers.set(h, { at: this.t + ms, fn });
    return h;
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.timers.delete(h);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const h = {};
    this.timers.set(h, { at: this.t + ms, fn, every: Math.max(1, ms) });
    return h;
  }
  clearInterval(h: TimerHandle | undefined): void {
    if (h) this.timers.delete(h);
  }
  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      const [h, v] = next;
      this.t = v.at;
      if (v.every) v.at += v.every;
      else this.timers.delete(h);
      v.fn();
    }
    this.t = end;
  }
}
