import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { SqlDb } from '../storage/engine.ts';
import { walWriteLockHolder } from '../storage/sqlite-lock-holder.ts';
import { markedProcess } from './process-mark.ts';

export interface FenceOptions {
  /** This instance's name: its own lease is never fenced. */
  name: string;
  clock: Clock;
  log?: Logger;
  /** A lease not renewed for this long has lapsed (ms). */
  timeoutMs: number;
  /** Ends a process (SIGKILL by default). */
  kill?: (pid: number) => void;
  /** The pid holding the database file's write lock (from `/proc/locks` by default). */
  lockHolder?: (path: string) => number | undefined;
}

/** An instance this one ended: its name and pid. */
export interface Fenced {
  instance: string;
  pid: number;
}

/**
 * Instances sharing one SQLite file share its one write lock. An instance stopped while it holds it (SIGSTOP,
 * SIGTSTP) blocks every write of every instance, heartbeats and the survivors' own leases included, until it
 * is resumed, so waiting cannot fail it over. When this instance's writes time out on the lock, the fence ends
 * the holder (SIGKILL; the kernel then frees the lock and a service manager restarts it) only when all of
 * these are proven: the lock is held by one pid (`/proc/locks`); that pid is the process another instance's
 * lease names (same boot, machine, pid namespace, pid and start time); its lease has lapsed; and it is stopped
 * by a signal (`T`). A process stopped by a debugger (`t`) is left alone, and said so in the log.
 */
export class StoppedHolderFence {
  /** The last holder refused as a debugger's, so that it is logged once. */
  private traced: number | null = null;

  constructor(
    private readonly sql: SqlDb,
    private readonly o: FenceOptions,
  ) {}

  /** One check (SQLite only; a read, no write): the instance ended, or null. */
  async check(): Promise<Fenced | null> {
    if (this.sql.engine !== 'sqlite') return null;
    const holder = (this.o.lockHolder ?? walWriteLockHolder)(this.sql.name);
    if (holder === undefined || holder === process.pid) return null;
    const cut = this.o.clock.now() - this.o.timeoutMs;
    const rows = await this.sql.all<{ name: string; token: string }>('SELECT name, token FROM instances WHERE name != ? AND stopped_at IS NULL AND last_seen < ?', [
      this.o.name,
      cut,
    ]);
    for (const r of rows) {
      const mark = r.token.slice(r.token.indexOf(' ') + 1);
      if (!r.token.includes(' ') || mark === '') continue;
      const p = markedProcess(mark);
      if (p?.pid !== holder) continue;
      if (p.state === 't') {
        if (this.traced !== p.pid)
          this.o.log?.warn({ instance: r.name, pid: p.pid }, 'instance is stopped by a debugger while holding the database write lock: no instance can write until it resumes');
        this.traced = p.pid;
        return null;
      }
      if (p.state !== 'T') return null;
      try {
        (this.o.kill ?? ((pid) => process.kill(pid, 'SIGKILL')))(p.pid);
      } catch (err) {
        this.o.log?.error({ instance: r.name, pid: p.pid, err: (err as Error).message }, 'could not end the stopped instance holding the database write lock');
        return null;
      }
      this.o.log?.warn(
        { instance: r.name, pid: p.pid },
        'instance stopped while holding the database write lock, its lease lapsed: ended it (SIGKILL) so that the others can write; its service restarts it',
      );
      return { instance: r.name, pid: p.pid };
    }
    return null;
  }
}
