import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../../shared/clock.ts';

/** The nice value a checker runs at: the lowest CPU priority. */
export const CHECKER_NICE = 19;

/** The environment a checker runs with: nothing of the agent's own (no LD_PRELOAD, no NODE_OPTIONS). */
export const CHECKER_ENV: Readonly<Record<string, string>> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', LC_ALL: 'C' };

/** How long after a kill the run waits for the program's pipes to close before it gives up on them, in ms. */
export const KILL_GRACE_MS = 10_000;

export interface RunProcessOptions {
  /** Absolute path of the program (never looked up in $PATH). */
  file: string;
  args: string[];
  clock: Clock;
  /** Kill the process group after this long, in ms. */
  timeoutMs: number;
  /** `ionice` to start the program through in the idle I/O class, or null to run it directly. */
  ionice: string | null;
  /** Extra pipes after stderr: fd 3, 4… are handed to the program for writing; their text goes to `onData` as `fd3`… */
  extraFds?: number;
  /** Decoded text as it arrives, per stream (`stdout`, `stderr`, `fd3`…). */
  onData?: (stream: string, text: string) => void;
  /** Kills the process group when aborted (the agent stopping). */
  signal?: AbortSignal;
}

/** How a process ended. */
export interface ProcessResult {
  /** Exit status, or null when it was killed by a signal or never started. */
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Killed because `signal` was aborted. */
  aborted?: boolean;
  /** Why it could not be started (a missing binary), one line. */
  spawnError?: string;
}

/**
 * Runs a program niced ({@link CHECKER_NICE}) and, through `ionice -c3 -t`,
 * in the idle I/O class, in a process group of its own with a clean
 * environment; at the deadline the whole group is killed (SIGKILL). Never
 * throws: a program that cannot start ends with `spawnError`.
 */
export function runProcess(o: RunProcessOptions): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
    for (let i = 0; i < (o.extraFds ?? 0); i++) stdio.push('pipe');
    // -t: run the program even where the idle class cannot be set (its exit status must be the checker's own).
    const [file, args] = o.ionice ? [o.ionice, ['-c3', '-t', '--', o.file, ...o.args]] : [o.file, o.args];
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { stdio, detached: true, env: { ...CHECKER_ENV }, cwd: '/' });
    } catch (err) {
      resolve({ code: null, signal: null, timedOut: false, spawnError: (err as Error).message });
      return;
    }
    let timedOut = false;
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    let grace: ReturnType<Clock['setTimeout']> | undefined;
    // After a kill the pipes close with the group; one a process outside it still holds must not keep the run
    // (and with it every later run of this kind) waiting forever.
    const killed = () => {
      killGroup();
      grace ??= o.clock.setTimeout(() => {
        for (const s of child.stdio) (s as Readable | null)?.destroy();
        done({ code: null, signal: 'SIGKILL', timedOut });
      }, KILL_GRACE_MS);
    };
    const timer = o.clock.setTimeout(() => {
      timedOut = true;
      killed();
    }, o.timeoutMs);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      killed();
    };
    o.signal?.addEventListener('abort', onAbort);
    if (o.signal?.aborted) onAbort();
    const done = (r: ProcessResult) => {
      if (settled) return;
      settled = true;
      o.clock.clearTimeout(timer);
      o.clock.clearTimeout(grace);
      o.signal?.removeEventListener('abort', onAbort);
      resolve(aborted ? { ...r, aborted } : r);
    };
    child.on('error', (err) => {
      killGroup();
      done({ code: null, signal: null, timedOut, spawnError: err.message });
    });
    if (child.pid) {
      try {
        setPriority(child.pid, CHECKER_NICE);
      } catch {
        /* the process may have ended already */
      }
    }
    child.stdio.forEach((s, i) => {
      if (i === 0 || !s) return;
      const name = i === 1 ? 'stdout' : i === 2 ? 'stderr' : `fd${i}`;
      const dec = new StringDecoder('utf8');
      (s as Readable).on('data', (b: Buffer) => o.onData?.(name, dec.write(b)));
      (s as Readable).on('end', () => {
        const rest = dec.end();
        if (rest) o.onData?.(name, rest);
      });
      (s as Readable).on('error', () => {});
    });
    child.on('close', (code, signal) => {
      // The program may have left children holding nothing: the group goes with it.
      killGroup();
      done({ code, signal, timedOut });
    });
  });
}
