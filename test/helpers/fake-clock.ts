import type { Clock, TimerHandle } from '../../shared/clock.ts';

interface Timer {
  at: number;
  fn: () => void;
  every: number | null;
  id: number;
}

/** A clock whose time moves only when a test calls {@link advance}. */
export class FakeClock implements Clock {
  private timers: Timer[] = [];
  private nextId = 1;
  constructor(private t = Date.parse('2026-01-01T00:00:00Z')) {}

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.t + ms, fn, every: null, id: this.nextId++ };
    this.timers.push(timer);
    return timer;
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.t + ms, fn, every: Math.max(1, ms), id: this.nextId++ };
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(h: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t !== h);
  }
  clearInterval(h: TimerHandle | undefined): void {
    this.clearTimeout(h);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.t = next.at;
      if (next.every === null) this.clearTimeout(next);
      else next.at += next.every;
      next.fn();
    }
    this.t = end;
  }
}
