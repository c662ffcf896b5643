/** Opaque handle returned by {@link Clock.setTimeout} and {@link Clock.setInterval}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/**
 * Time and timers, injected into everything that has a deadline so tests can
 * move time without sleeping. Times are milliseconds since the epoch.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/**
 * The real clock. Timers keep the process alive (a disconnected agent waiting
 * to reconnect has nothing else that does); owners clear them on stop.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
};
