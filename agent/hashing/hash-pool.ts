import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type Clock, systemClock, type TimerHandle } from '../../shared/clock.ts';
import { hashFileSync } from './hash-file.ts';

/** The system clock with timers that never keep the process alive: the pool's housekeeping must not. */
const housekeepingClock: Clock = {
  ...systemClock,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
};

/**
 * The worker's code, plain CommonJS evaluated in the thread (no file to ship
 * beside the single executable). It lowers its own thread's priority: on
 * Linux setpriority(PRIO_PROCESS, tid) applies to that one thread, so full
 * scans run niced (and, where `ionice` exists, in the idle I/O class) while
 * the main thread, which answers inotify events and the server, keeps its
 * normal priority.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const os = require('node:os');
const { createHash } = require('node:crypto');
let tid = null;
try { tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop()); } catch {}
if (tid) {
  try { os.setPriority(tid, workerData.nice); } catch {}
  if (workerData.ionice) {
    try { require('node:child_process').spawnSync(workerData.ionice, ['-c', '3', '-p', String(tid)], { stdio: 'ignore', timeout: 2000 }); } catch {}
  }
}
const buf = Buffer.allocUnsafe(workerData.chunk);
parentPort.on('message', ({ id, path }) => {
  let fd;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) throw new Error('not a regular file');
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      size += n;
    }
    parentPort.postMessage({ id, sha256: h.digest('hex'), size });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.code || err && err.message || err) });
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
  }
});
`;

export interface HashResult {
  sha256: string;
  size: number;
}

/** Hashes files: full scans through the niced pool, single files after an event on the calling thread. */
export interface Hasher {
  /** Hashes in the background pool (bounded concurrency, low priority). */
  hash(path: string): Promise<HashResult>;
  /** Hashes now, at normal priority: the path from an inotify event to the alarm. */
  hashNow(path: string): Promise<HashResult>;
  close(): Promise<void>;
}

export interface HashPoolOptions {
  /** Worker threads at most, i.e. files hashed at once (default: min(2, cores); see growAfterMs). */
  workers?: number;
  /** Nice value of the worker threads (default 10). */
  nice?: number;
  /** Path of `ionice`, or null to skip the idle I/O class (default /usr/bin/ionice). */
  ionice?: string | null;
  /** Files up to this size are hashed on the main thread after an event (default 16 MiB). */
  inlineMaxBytes?: number;
  /** A worker with no work for this long exits (default 2 s: a full scan keeps its workers busy to the end). */
  idleMs?: number;
  /**
   * Workers beyond the first start only once files have waited this long for one (default 250 ms; 0: at
   * once). Starting a worker costs ~27 ms of CPU: a scan that one worker finishes in a tenth of a second
   * (the default watch set) is not worth a second.
   */
  growAfterMs?: number;
  /** Time and timers for the idle and growth delays (default: the system clock, timers unref'd). */
  clock?: Clock;
}

interface Job {
  id: number;
  path: string;
  resolve: (r: HashResult) => void;
  reject: (e: Error) => void;
}

/** A bounded pool of niced worker threads that hash files by streaming them in 1 MiB chunks. */
export class HashPool implements Hasher {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly running = new Map<Worker, Job>();
  private nextId = 1;
  private closed = false;
  private readonly inlineMax: number;

  private readonly size: number;
  private readonly workerData: { nice: number; ionice: string | null; chunk: number };
  private readonly idleMs: number;
  private readonly idleTimers = new Map<Worker, TimerHandle>();
  private readonly clock: Clock;
  private readonly growAfterMs: number;
  /** Since when queued files have been waiting with every live worker busy (null: none waiting). */
  private waitingSince: number | null = null;
  private growTimer: TimerHandle | undefined;

  constructor(o: HashPoolOptions = {}) {
    this.size = Math.max(1, o.workers ?? Math.min(2, availableParallelism()));
    this.inlineMax = o.inlineMaxBytes ?? 16 << 20;
    // Each live worker is a V8 isolate of ~10 MiB; kept 30 s after every full scan they were most of the
    // idle agent's RSS above its floor for that half minute.
    this.idleMs = o.idleMs ?? 2_000;
    this.growAfterMs = o.growAfterMs ?? 250;
    this.clock = o.clock ?? housekeepingClock;
    const ionice = o.ionice === undefined ? '/usr/bin/ionice' : o.ionice;
    this.workerData = { nice: o.nice ?? 10, ionice, chunk: 1 << 20 };
  }

  /** Live worker threads (they start with work and retire after `idleMs` without any). */
  get threads(): number {
    return this.workers.length;
  }

  // Workers start on demand and retire when idle: between full scans an idle
  // agent holds no extra V8 isolates (each costs tens of MB of RSS).
  private spawnWorker(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: this.workerData });
    w.unref();
    w.on('message', (m: { id: number; sha256?: string; size?: number; error?: string }) => this.done(w, m));
    w.on('error', (err) => this.failed(w, err));
    this.workers.push(w);
    return w;
  }

  private parkIdle(w: Worker): void {
    this.idle.push(w);
    this.idleTimers.set(
      w,
      this.clock.setTimeout(() => this.retire(w), this.idleMs),
    );
  }

  private retire(w: Worker): void {
    this.idleTimers.delete(w);
    const i = this.idle.indexOf(w);
    if (i < 0) return;
    this.idle.splice(i, 1);
    this.workers.splice(this.workers.indexOf(w), 1);
    void w.terminate();
  }

  hash(path: string): Promise<HashResult> {
    if (this.closed) return Promise.reject(new Error('hash pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, resolve, reject });
      this.pump();
    });
  }

  async hashNow(path: string): Promise<HashResult> {
    // Small files (every guarded config, most binaries) are hashed inline: no
    // queueing behind a full scan, no thread hop. A huge file goes to the pool
    // so it cannot stall heartbeats.
    try {
      return hashFileSync(path);
    } catch (err) {
      throw err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Size limit under which {@link hashNow} is worth calling (bigger files go through {@link hash}). */
  get inlineMaxBytes(): number {
    return this.inlineMax;
  }

  private pump(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w) {
        if (this.workers.length >= this.size || (this.workers.length > 0 && !this.mayGrow())) break;
        w = this.spawnWorker();
      }
      this.clock.clearTimeout(this.idleTimers.get(w));
      this.idleTimers.delete(w);
      const job = this.queue.shift()!;
      this.running.set(w, job);
      w.ref(); // keep the process alive while work is in flight
      w.postMessage({ id: job.id, path: job.path });
    }
    if (!this.queue.length) {
      this.waitingSince = null;
      this.clock.clearTimeout(this.growTimer);
      this.growTimer = undefined;
    }
  }

  /** Whether another worker may start now: files have waited {@link growAfterMs}; if not, pump again then. */
  private mayGrow(): boolean {
    const now = this.clock.now();
    this.waitingSince ??= now;
    const left = this.growAfterMs - (now - this.waitingSince);
    if (left <= 0) return true;
    if (!this.growTimer) {
      this.growTimer = this.clock.setTimeout(() => {
        this.growTimer = undefined;
        this.pump();
      }, left);
    }
    return false;
  }

  private done(w: Worker, m: { id: number; sha256?: string; size?: number; error?: string }): void {
    const job = this.running.get(w);
    this.running.delete(w);
    w.unref();
    this.parkIdle(w);
    if (job && job.id === m.id) {
      if (m.error !== undefined) job.reject(new Error(m.error));
      else job.resolve({ sha256: m.sha256!, size: m.size! });
    }
    this.pump();
  }

  private failed(w: Worker, err: Error): void {
    const job = this.running.get(w);
    this.running.delete(w);
    job?.reject(err);
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    // A worker that failed to start (or died) fails its job; the next job starts a fresh one.
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.growTimer);
    for (const j of this.queue.splice(0)) j.reject(new Error('hash pool closed'));
    for (const t of this.idleTimers.values()) this.clock.clearTimeout(t);
    this.idleTimers.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
