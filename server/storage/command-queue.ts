import type { Db } from './db.ts';

/** Effects a CLI command asks of a running `serve`. */
export type CommandAction = 'close-host' | 'request-report';

export interface Command {
  id: number;
  action: CommandAction;
  host: string | null;
  arg: string | null;
}

/** What became of a command, as the CLI that queued it reads it back. */
export interface CommandState {
  /** When a running `serve` took it; null while none has. */
  doneAt: number | null;
  /** The outcome `serve` wrote (e.g. `offline`, `sent`, `stored:TIME`); null when it wrote none. */
  result: string | null;
}

/**
 * A queue in the database through which CLI commands reach a running `serve`
 * (which polls it): the CLI writes the state change and the command in one
 * transaction, so the effect is durable even when no server runs.
 */
export class CommandQueue {
  constructor(private readonly db: Db) {}

  /** Queues a command; returns its id. */
  enqueue(action: CommandAction, host: string | null, arg: string | null, now: number): number {
    return Number(this.db.prepare('INSERT INTO commands (action, host, arg, created_at) VALUES (?, ?, ?, ?)').run(action, host, arg, now).lastInsertRowid);
  }

  /** Takes the pending commands, marking them done. */
  take(now: number): Command[] {
    return this.db
      .transaction(() => {
        const rows = this.db.prepare('SELECT id, action, host, arg FROM commands WHERE done_at IS NULL ORDER BY id').all() as Command[];
        if (rows.length) this.db.prepare('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND id <= ?').run(now, rows.at(-1)!.id);
        return rows;
      })
      .immediate();
  }

  /** The newest command's id (0 when there is none). */
  latestId(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM commands').get() as { id: number }).id;
  }

  /**
   * The commands after `id`, oldest first, whether done or not: with several `serve` instances on one
   * database each reads every command once (by its own cursor) and acts on the hosts it holds.
   */
  after(id: number): Command[] {
    return this.db.prepare('SELECT id, action, host, arg FROM commands WHERE id > ? ORDER BY id').all(id) as Command[];
  }

  /** Marks pending commands up to `id` done without acting (at a start with no other instance running). */
  tidy(id: number, now: number): void {
    this.db.prepare('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND id <= ?').run(now, id);
  }

  /**
   * Marks done the commands still pending that were queued before `before`: no instance acted on them (a
   * request for a host whose instance died meanwhile, an action this version does not know), and they are
   * past any CLI's wait. Retention prunes done commands only.
   */
  expire(before: number, now: number): number {
    return this.db.prepare('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND created_at < ?').run(now, before).changes;
  }

  /**
   * Marks a command done (the first instance's time stays) and, with `result`, records it: `ifUnset`
   * writes it only when no instance wrote one (an `offline` must not hide the holder's `sent`).
   */
  settle(id: number, now: number, result?: string, o: { ifUnset?: boolean } = {}): void {
    if (result === undefined) {
      this.db.prepare('UPDATE commands SET done_at = COALESCE(done_at, ?) WHERE id = ?').run(now, id);
      return;
    }
    this.db.prepare(`UPDATE commands SET done_at = COALESCE(done_at, ?), result = ? WHERE id = ?${o.ifUnset ? ' AND result IS NULL' : ''}`).run(now, result, id);
  }

  /** Records what became of a taken command, for the CLI waiting on it. */
  setResult(id: number, result: string): void {
    this.db.prepare('UPDATE commands SET result = ? WHERE id = ?').run(result, id);
  }

  /** A command's state; null when it no longer exists. */
  state(id: number): CommandState | null {
    const r = this.db.prepare('SELECT done_at AS doneAt, result FROM commands WHERE id = ?').get(id) as CommandState | undefined;
    return r ?? null;
  }
}
