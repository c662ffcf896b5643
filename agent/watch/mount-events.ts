import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';

/** One change of the mount table, as `findmnt --poll` saw it. */
export interface MountEvent {
  /** `mount`, `umount`, `remount` or `move` (any other word findmnt may add is passed on). */
  action: string;
  /** The mount point (for `move`, where it went). */
  target: string;
  /** For `move`: where the mount was before. */
  oldTarget?: string;
  /** Per-mount options after the change (`ro`/`rw`, ...). */
  options: string[];
  /** Options before a `remount`. */
  oldOptions: string[];
}

/** How long after its start findmnt is taken to have read the table it compares every later change with, in ms. */
export const FINDMNT_READY_MS = 1000;

/** The columns asked of findmnt, printed as `KEY="value"` pairs (`-P`). */
const COLUMNS = 'ACTION,TARGET,OLD-TARGET,OPTIONS,OLD-OPTIONS';

/** The default command: every change of this process's mount table, one line each, as it happens. */
export const FINDMNT_POLL = ['findmnt', '--poll', '-P', '-o', COLUMNS];

/**
 * Undoes findmnt's `\xHH` escapes: in `-P` output every byte that could
 * break the line or the quoting (newline, quote, backslash, control bytes)
 * is written that way, so a hostile path arrives as one line.
 */
function unescapeField(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = s[i] === '\\' ? /^x([0-9a-fA-F]{2})/.exec(s.slice(i + 1, i + 4)) : null;
    if (m) {
      bytes.push(parseInt(m[1]!, 16));
      i += 3;
      continue;
    }
    bytes.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parses one `findmnt -P` line; null when it is not one (a partial or garbled line). */
export function parseFindmntLine(line: string): MountEvent | null {
  const f = new Map<string, string>();
  const re = /([A-Z][A-Z-]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(line); m; m = re.exec(line)) f.set(m[1]!, unescapeField(m[2]!));
  const action = f.get('ACTION');
  const target = f.get('TARGET');
  if (!action || !target?.startsWith('/')) return null;
  const list = (k: string) => (f.get(k) ?? '').split(',').filter(Boolean);
  const oldTarget = f.get('OLD-TARGET');
  return { action, target, ...(oldTarget ? { oldTarget } : {}), options: list('OPTIONS'), oldOptions: list('OLD-OPTIONS') };
}

export interface MountEventsOptions {
  clock: Clock;
  log: Logger;
  /** Each change, in order. */
  onEvent(ev: MountEvent): void;
  /** The watcher died (and is restarted): events may have been missed meanwhile. */
  onTrouble(message: string): void;
  /** The command to run; {@link FINDMNT_POLL} by default. */
  command?: string[];
  /** First restart delay, doubled per quick death up to `maxBackoffMs`, in ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Watches the mount table through a supervised `findmnt --poll` child: each
 * mount, umount, remount and move is handed over the moment findmnt prints
 * it, so a change undone within milliseconds is still seen. A death of the
 * child is reported and the child restarted with backoff; the agent never
 * dies with it.
 */
export class MountEvents {
  private child: ChildProcess | null = null;
  private restartTimer: TimerHandle | undefined;
  private backoffMs: number;
  private startedAt = 0;
  /** When the running child was exec'd (clock ms); null while none runs. */
  private spawnedAt: number | null = null;
  /**
   * The child's `/proc/PID/stat`, kept open: re-read in place it costs a third of opening it each
   * cycle, and it reads as gone (ESRCH) once that process is, whoever takes its pid next.
   */
  private statFd: number | null = null;
  private readonly statBuf = Buffer.allocUnsafe(512);
  private stopped = false;
  /** Lines are handed over one per turn of the event loop, so each change is flushed as its own event. */
  private queue: MountEvent[] = [];
  private draining = false;

  constructor(private readonly o: MountEventsOptions) {
    this.backoffMs = o.minBackoffMs ?? 500;
  }

  /** The running child's pid (tests kill it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Since when (clock ms) every change of the table is sure to be handed over: the running findmnt
   * has had {@link FINDMNT_READY_MS} to read the table, and it is neither stopped, traced nor a zombie
   * (an intruder's SIGSTOP would silence it without a death to report). Null when no such child runs.
   * Costs one read of its `/proc/PID/stat`.
   */
  watchingSince(): number | null {
    if (this.spawnedAt === null || this.statFd === null) return null;
    let stat: string;
    try {
      stat = this.statBuf.toString('latin1', 0, readSync(this.statFd, this.statBuf, 0, this.statBuf.length, 0));
    } catch {
      return null;
    }
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state === 'S' || state === 'R' || state === 'D' ? this.spawnedAt + FINDMNT_READY_MS : null;
  }

  private closeStat(): void {
    if (this.statFd === null) return;
    try {
      closeSync(this.statFd);
    } catch {
      /* closed already */
    }
    this.statFd = null;
  }

  start(): void {
    if (this.stopped || this.child) return;
    const [cmd, ...args] = this.o.command ?? FINDMNT_POLL;
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = this.o.clock.now();
    this.spawnedAt = null;
    child.once('spawn', () => {
      if (this.child !== child) return;
      this.closeStat();
      try {
        this.statFd = openSync(`/proc/${child.pid}/stat`, 'r');
      } catch {
        return; // no /proc to see it by: every cycle reads the table
      }
      this.spawnedAt = this.o.clock.now();
    });
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const ev = parseFindmntLine(line);
        if (ev) this.push(ev);
        else if (line.trim()) this.o.log.warn({ line: line.slice(0, 200) }, 'unparsed findmnt line');
      }
      // A line longer than any mount table line is garbage: drop it rather than grow without bound.
      if (buf.length > 65_536) buf = '';
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-200);
    });
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.child === child) {
        this.child = null;
        this.spawnedAt = null;
        this.closeStat();
      }
      if (this.stopped) return;
      // A child that lived a while starts over at the shortest delay; one that dies at once backs off.
      if (this.o.clock.now() - this.startedAt > 30_000) this.backoffMs = this.o.minBackoffMs ?? 500;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.o.maxBackoffMs ?? 30_000);
      const msg = `mount watcher (findmnt --poll) ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}; restarting in ${delay} ms`;
      this.o.log.warn({ delay }, msg);
      this.o.onTrouble(msg.slice(0, 300));
      this.restartTimer = this.o.clock.setTimeout(() => {
        this.restartTimer = undefined;
        this.start();
      }, delay);
    };
    child.on('error', (err) => end(`failed: ${err.message}`));
    child.on('close', (code, signal) => end(`exited (${signal ?? `code ${code}`})`));
  }

  private push(ev: MountEvent): void {
    this.queue.push(ev);
    if (this.draining) return;
    this.draining = true;
    const next = () => {
      const e = this.queue.shift();
      if (!e || this.stopped) {
        this.draining = false;
        this.queue = [];
        return;
      }
      try {
        this.o.onEvent(e);
      } catch (err) {
        this.o.log.error({ err: (err as Error).message, action: e.action }, 'mount event not handled');
      }
      setImmediate(next);
    };
    next();
  }

  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
    this.child = null;
    this.spawnedAt = null;
    this.closeStat();
  }
}
