import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { WatchNote } from '../../shared/protocol.ts';
import type { EntryKind, Measured } from '../../shared/state-digest.ts';
import type { Check, CheckHooks } from '../checks/check.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import { addToDelta, applyMeasurement, type Delta, emptyDelta, isEmptyDelta } from './delta.ts';
import { MeasuredState } from './measured-state.ts';

export interface MonitorOptions {
  checks: Check[];
  clock: Clock;
  log: Logger;
  /** Cycle of the cheap checks (daemons, mounts), in ms; null when the caller drives {@link Monitor.cycle} (the agent's main loop). */
  intervalMs: number | null;
  /** Full re-measure of every check, in ms. */
  fullScanMs: number;
  /** Called with each batch of changes, as soon as they are known. */
  onDelta(d: Delta): void;
  /** Called after each full scan completes. */
  onScan?(info: { items: number; ms: number; first: boolean }): void;
}

/**
 * Runs the checks: a full scan at start and every `fullScanMs` (and at once
 * after watcher trouble), the cheap checks every cycle, real-time updates
 * from watching checks in between. It keeps the measured state and hands
 * every change over at once; it never judges (the server does).
 */
export class Monitor {
  readonly state = new MeasuredState();
  private pending: Delta = emptyDelta();
  private flushScheduled = false;
  private scanning: Promise<void> | null = null;
  private scanAgain = false;
  /** Event generation per key, so a full scan that started earlier does not overwrite a newer event. */
  private gen = 0;
  private readonly touched = new Map<string, number>();
  private cycleTimer?: TimerHandle;
  private scanTimer?: TimerHandle;
  private stopped = false;
  ready = false;

  constructor(private readonly o: MonitorOptions) {}

  /** Starts watching, then runs the first full scan; resolves when that scan is done. */
  async start(): Promise<void> {
    const hooks: CheckHooks = {
      update: (kind, key, value) => this.update(kind, key, value),
      get: (kind, key) => this.state.get(kind, key),
      keys: (kind) => this.state.keys(kind),
      trouble: (note) => this.trouble(note),
    };
    // Watch first: a change during the first scan is then seen, not lost.
    for (const c of this.o.checks) {
      // Stopped while an earlier check subscribed: a watch started now (a findmnt child) would outlive close().
      if (this.stopped) return;
      if (!c.watch) continue;
      try {
        await c.watch(hooks);
      } catch (err) {
        this.trouble({ kind: 'watcher-error', message: `${c.name}: ${(err as Error).message}`.slice(0, 300) });
      }
    }
    await this.fullScan();
    this.ready = true;
    if (this.stopped) return;
    if (this.o.intervalMs !== null) this.cycleTimer = this.o.clock.setInterval(() => void this.cycle(), this.o.intervalMs);
    this.scanTimer = this.o.clock.setInterval(() => void this.fullScan(), this.o.fullScanMs);
  }

  private update(kind: EntryKind, key: string, value: Measured['value'] | null): void {
    if (this.stopped) return;
    this.touched.set(`${kind}\0${key}`, ++this.gen);
    if (!this.state.set(kind, key, value)) return;
    addToDelta(this.pending, kind, key, value);
    this.scheduleFlush();
  }

  private trouble(note: WatchNote): void {
    this.pending.notes.push(note);
    this.scheduleFlush();
    void this.fullScan();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A microtask, not a timer: changes made by one callback (a directory and
    // its entries) go out in one event, and the first alarm waits for nothing
    // else queued on the loop (duplicate hints from the other watch lanes).
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (isEmptyDelta(this.pending)) return;
    const d = this.pending;
    this.pending = emptyDelta();
    try {
      this.o.onDelta(d);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'could not hand over changes');
    }
  }

  /** Measures the given checks and applies the results; a failing check is logged and skipped. */
  private async measure(checks: Check[], why: 'cycle' | 'scan', emit = true): Promise<void> {
    const startGen = this.gen;
    await Promise.all(
      checks.map(async (c) => {
        let items: Measured[];
        try {
          items = await cpuLedger.run(`checks/${c.name}`, () => c.measure(why), true);
        } catch (err) {
          this.o.log.warn({ check: c.name, err: (err as Error).message }, 'check failed this round');
          this.pending.notes.push({ kind: 'scan-error', message: `${c.name}: ${(err as Error).message}`.slice(0, 300) });
          return;
        }
        applyMeasurement(this.state, c.kind, items, (key) => (this.touched.get(`${c.kind}\0${key}`) ?? 0) > startGen, this.pending);
      }),
    );
    // The first scan is sent whole as a report; only its notes go out as an event.
    if (!emit) this.pending = { ...emptyDelta(), notes: this.pending.notes };
    this.flush();
  }

  /** One cycle of the cheap checks. */
  async cycle(): Promise<void> {
    if (this.stopped || !this.ready) return;
    await this.measure(
      this.o.checks.filter((c) => c.cadence === 'cycle'),
      'cycle',
    );
  }

  /** A full scan of every check; a request during a scan runs one more after it. */
  fullScan(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.scanning !== null) {
      this.scanAgain = true;
      return this.scanning;
    }
    const first = !this.ready;
    this.scanning = (async () => {
      do {
        this.scanAgain = false;
        const t0 = performance.now();
        await this.measure(this.o.checks, 'scan', this.ready);
        this.ready = true; // before onScan: the first report goes out from there
        this.o.onScan?.({ items: this.state.size, ms: Math.round(performance.now() - t0), first });
      } while (this.scanAgain && !this.stopped);
    })().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.o.clock.clearInterval(this.cycleTimer);
    this.o.clock.clearInterval(this.scanTimer);
    await Promise.all(this.o.checks.map((c) => c.close().catch(() => undefined)));
  }
}
