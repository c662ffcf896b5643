/** CPU time (µs) and calls of one kind of work on the main thread. */
export interface LedgerPart {
  us: number;
  calls: number;
}

/** What {@link CpuLedger.take} hands over: the window, the main thread's CPU in it, and each part's share. */
export interface LedgerReport {
  windowMs: number;
  /** The main thread's CPU over the window (µs), whatever ran it. */
  mainUs: number;
  /** The main thread's CPU outside every named part: loop wake-ups, socket reads, GC, timers' own cost. */
  unnamedUs: number;
  /** Share of the window the loop was busy (0..1), from the loop's own utilisation counter. */
  loopUtilisation: number;
  parts: Record<string, LedgerPart>;
}

type Usage = { user: number; system: number };
const threadUsage: () => Usage =
  typeof (process as { threadCpuUsage?: () => Usage }).threadCpuUsage === 'function'
    ? () => (process as unknown as { threadCpuUsage: () => Usage }).threadCpuUsage()
    : () => process.cpuUsage();
const usNow = () => {
  const u = threadUsage();
  return u.user + u.system;
};

/**
 * Where the idle agent's main-thread CPU goes, by named piece of work (each
 * timer callback, each cycle task, each inbound frame), so a quiet host's cost
 * can be apportioned instead of guessed. Off unless enabled (the agent enables
 * it at debug level): then each measured piece costs two reads of the thread's
 * CPU clock (`getrusage`, about a microsecond each).
 */
export class CpuLedger {
  enabled = false;
  private parts = new Map<string, LedgerPart>();
  private since = { ms: 0, us: 0, elu: performance.eventLoopUtilization() };

  /** Starts a window now (and enables the ledger). */
  start(now: number): void {
    this.enabled = true;
    this.parts.clear();
    this.since = { ms: now, us: usNow(), elu: performance.eventLoopUtilization() };
  }

  /**
   * Runs `fn`, adding its CPU to `label` when enabled; a returned promise is measured until it settles, unless
   * `syncOnly` (work started side by side, whose settling waits for the others' synchronous parts).
   */
  run<T>(label: string, fn: () => T, syncOnly = false): T {
    if (!this.enabled) return fn();
    const t0 = usNow();
    let out: T;
    try {
      out = fn();
    } catch (err) {
      this.add(label, usNow() - t0);
      throw err;
    }
    if (out instanceof Promise && !syncOnly) {
      const done = () => this.add(label, usNow() - t0);
      out.then(done, done);
    } else {
      this.add(label, usNow() - t0);
    }
    return out;
  }

  /** Adds `us` of CPU and one call to `label`. */
  add(label: string, us: number): void {
    const p = this.parts.get(label);
    if (p) {
      p.us += us;
      p.calls++;
    } else {
      this.parts.set(label, { us, calls: 1 });
    }
  }

  /**
   * The window since the last take (or start) and a new one from now. Parts measured inside others (a check inside
   * the cycle) are named with a `/` and left out of the unnamed remainder's sum.
   */
  take(now: number): LedgerReport {
    const us = usNow();
    const elu = performance.eventLoopUtilization(this.since.elu);
    const parts = Object.fromEntries([...this.parts].sort((a, b) => b[1].us - a[1].us));
    const mainUs = us - this.since.us;
    let named = 0;
    for (const [label, p] of this.parts) if (!label.includes('/')) named += p.us;
    const report = { windowMs: now - this.since.ms, mainUs, unnamedUs: mainUs - named, loopUtilisation: +elu.utilization.toFixed(6), parts };
    this.parts = new Map();
    this.since = { ms: now, us, elu: performance.eventLoopUtilization() };
    return report;
  }
}

/** The agent's one ledger: the pieces it measures live in several components, and all report into one window. */
export const cpuLedger = new CpuLedger();
