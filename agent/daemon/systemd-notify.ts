import { spawn as nodeSpawn } from 'node:child_process';

/** What the notifier needs from a spawned `systemd-notify`: its end and a way to stop it. */
export interface NotifyChild {
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
}

/** Starts `systemd-notify` with the given arguments (a subset of child_process.spawn). */
export type NotifySpawn = (command: string, args: readonly string[]) => NotifyChild;

/** Timers, injected so tests move time by hand. */
export interface NotifyClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Dependencies of {@link createSystemdNotifier}; all optional. */
export interface SystemdNotifierOptions {
  /** Defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Defaults to child_process.spawn with stdio ignored. */
  spawn?: NotifySpawn;
  /** Defaults to the global timers. */
  clock?: NotifyClock;
  /** This process's id, checked against WATCHDOG_PID; defaults to process.pid. */
  pid?: number;
  /** A `systemd-notify` running longer than this is killed; default 5000 ms. */
  timeoutMs?: number;
  /** Told about a failed or killed `systemd-notify`; never about success. */
  onError?: (msg: string) => void;
}

/** Tells systemd that the service is up and alive (Type=notify, WatchdogSec=). */
export interface SystemdNotifier {
  /** True when systemd asked for notifications (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** Sends READY=1 (repeated with every later ping); later calls do nothing. Never throws. */
  ready(): void;
  /** Sends WATCHDOG=1. Call every {@link watchdogIntervalMs} from the main loop. Never throws. */
  watchdog(): void;
  /** Half of WATCHDOG_USEC in milliseconds; null when systemd set no watchdog for this process. */
  watchdogIntervalMs(): number | null;
}

/**
 * Creates a notifier that spawns `systemd-notify --ready` / `systemd-notify
 * WATCHDOG=1`, so no native sd_notify binding is needed. Without CAP_SYS_ADMIN
 * the tool sends under its own PID, which needs `NotifyAccess=all`, and systemd
 * drops a message whose short-lived sender it can no longer place in a unit;
 * so once ready() was called every watchdog ping repeats READY=1 (harmless to
 * systemd once started) and a lost READY=1 is repaired by the next ping.
 * At most one child runs at a time: requests made meanwhile are merged into
 * one follow-up call, and a child that hangs is killed after `timeoutMs`, so a
 * stuck tool can never pile up processes. Without NOTIFY_SOCKET every method
 * is a no-op.
 */
export function createSystemdNotifier(options: SystemdNotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  const spawn = options.spawn ?? defaultSpawn;
  const clock = options.clock ?? { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  const pid = options.pid ?? process.pid;
  const timeoutMs = options.timeoutMs ?? 5000;
  const onError = options.onError ?? (() => undefined);
  const enabled = Boolean(env.NOTIFY_SOCKET);

  let readyRequested = false; // sticky: READY=1 rides along with every later ping
  let readyPending = false; // ready() called, first READY=1 not yet started
  let watchdogPending = false;
  let busy = false;

  function pump(): void {
    if (busy || !(readyPending || watchdogPending)) return;
    const args = readyRequested ? ['--ready'] : [];
    if (watchdogPending) args.push('WATCHDOG=1');
    readyPending = false;
    watchdogPending = false;
    busy = true;

    let finished = false;
    let timer: unknown;
    const finish = (failure: string | null): void => {
      if (finished) return;
      finished = true;
      clock.clearTimeout(timer);
      busy = false;
      // A failed READY=1 is not retried at once (a missing tool would spawn in
      // a loop): it goes again with the next watchdog() call.
      if (failure) onError(`systemd-notify ${args.join(' ')}: ${failure}`);
      pump();
    };
    try {
      const child = spawn('systemd-notify', args);
      child.once('error', (err) => finish(err.message));
      child.once('exit', (code, signal) => finish(code === 0 ? null : `exited with ${signal ?? code}`));
      timer = clock.setTimeout(() => {
        child.kill('SIGKILL');
        finish(`no answer within ${timeoutMs} ms, killed`);
      }, timeoutMs);
    } catch (err) {
      finish(err instanceof Error ? err.message : String(err));
    }
  }

  return {
    enabled,
    ready(): void {
      if (!enabled || readyRequested) return;
      readyRequested = true;
      readyPending = true;
      pump();
    },
    watchdog(): void {
      if (!enabled) return;
      watchdogPending = true;
      pump();
    },
    watchdogIntervalMs(): number | null {
      return watchdogIntervalFromEnv(env, pid);
    },
  };
}

/** Half of WATCHDOG_USEC in ms, or null when unset, invalid, zero, or meant for another PID. */
export function watchdogIntervalFromEnv(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec)) return null;
  const watchdogPid = env.WATCHDOG_PID;
  if (watchdogPid !== undefined && watchdogPid !== '' && Number(watchdogPid) !== pid) return null;
  const ms = Math.floor(Number(usec) / 2000);
  return ms > 0 ? ms : null;
}

function defaultSpawn(command: string, args: readonly string[]): NotifyChild {
  return nodeSpawn(command, args, { stdio: 'ignore' });
}
