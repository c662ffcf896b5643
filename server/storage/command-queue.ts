import type { Queryable, SqlDb } from './engine.ts';

/** The channel `enqueue` wakes the running instances on (they poll the queue anyway: a wake-up only). */
export const COMMANDS_CHANNEL = 'tw_commands';

/**
 * Effects a CLI command asks of a running `serve`; `close-session` (arg: the connection id) is one instance
 * asking the one that holds an agent's old connection to close it.
 */
export type CommandAction = 'close-host' | 'request-report' | 'close-session';

export interface Command {
  id: number;
  action: CommandAction;
  host: string | null;
  arg: string | null;
  /** When it was queued (ms since the epoch). */
  createdAt: number;
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
  constructor(private readonly sql: SqlDb) {}

  /**
   * Queues a command; returns its id. Inside the caller's transaction pass its `q`; the wake-up on
   * {@link COMMANDS_CHANNEL} then goes out now, before the commit, and the instance it wakes may not see the
   * command yet: its poll finds it.
   */
  async enqueue(action: CommandAction, host: string | null, arg: string | null, now: number, q: Queryable = this.sql): Promise<number> {
    const row = await q.get<{ id: number }>('INSERT INTO commands (action, host, arg, created_at) VALUES (?, ?, ?, ?) RETURNING id', [action, host, arg, now]);
    if (q === this.sql) await this.wake();
    return row!.id;
  }

  /** Wakes the instances listening on {@link COMMANDS_CHANNEL} (after a transaction that queued commands commits). */
  async wake(): Promise<void> {
    await this.sql.notify(COMMANDS_CHANNEL);
  }

  /** Calls `fn` whenever a command may have been queued (by any instance); returns a function that stops it. */
  listen(fn: () => void): () => void {
    return this.sql.listen(COMMANDS_CHANNEL, fn);
  }

  /** Takes the pending commands, marking them done. */
  take(now: number): Promise<Command[]> {
    return this.sql.tx(async (tx) => {
      const rows = await tx.all<Command>('SELECT id, action, host, arg, created_at AS "createdAt" FROM commands WHERE done_at IS NULL ORDER BY id');
      if (rows.length) await tx.run('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND id <= ?', [now, rows.at(-1)!.id]);
      return rows;
    });
  }

  /** The newest command's id (0 when there is none). */
  async latestId(): Promise<number> {
    return (await this.sql.get<{ id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM commands'))!.id;
  }

  /**
   * The commands after `id`, oldest first, whether done or not: with several `serve` instances on one
   * database each reads every command once (by its own cursor) and acts on the hosts it holds.
   */
  after(id: number, lateSince: number | null = null): Promise<Command[]> {
    // PostgreSQL hands out ids at insert, not at commit: a command can commit below a cursor already past it.
    // `lateSince` also returns those queued since then (the caller skips the ones it has seen).
    if (lateSince !== null) {
      return this.sql.all<Command>('SELECT id, action, host, arg, created_at AS "createdAt" FROM commands WHERE id > ? OR created_at >= ? ORDER BY id', [id, lateSince]);
    }
    return this.sql.all<Command>('SELECT id, action, host, arg, created_at AS "createdAt" FROM commands WHERE id > ? ORDER BY id', [id]);
  }

  /** Marks pending commands up to `id` done without acting (at a start with no other instance running). */
  async tidy(id: number, now: number): Promise<void> {
    await this.sql.run('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND id <= ?', [now, id]);
  }

  /**
   * Marks done the commands still pending that were queued before `before`: no instance acted on them (a
   * request for a host whose instance died meanwhile, an action this version does not know), and they are
   * past any CLI's wait. Retention prunes done commands only.
   */
  expire(before: number, now: number): Promise<number> {
    return this.sql.run('UPDATE commands SET done_at = ? WHERE done_at IS NULL AND created_at < ?', [now, before]);
  }

  /**
   * Marks a command done (the first instance's time stays) and, with `result`, records it: `ifUnset`
   * writes it only when no instance wrote one (an `offline` must not hide the holder's `sent`).
   */
  async settle(id: number, now: number, result?: string, o: { ifUnset?: boolean } = {}): Promise<void> {
    if (result === undefined) {
      await this.sql.run('UPDATE commands SET done_at = COALESCE(done_at, ?) WHERE id = ?', [now, id]);
      return;
    }
    await this.sql.run(`UPDATE commands SET done_at = COALESCE(done_at, ?), result = ? WHERE id = ?${o.ifUnset ? ' AND result IS NULL' : ''}`, [now, result, id]);
  }

  /** Records what became of a taken command, for the CLI waiting on it. */
  async setResult(id: number, result: string): Promise<void> {
    await this.sql.run('UPDATE commands SET result = ? WHERE id = ?', [result, id]);
  }

  /** A command's state; null when it no longer exists. */
  async state(id: number): Promise<CommandState | null> {
    const r = await this.sql.get<CommandState>('SELECT done_at AS "doneAt", result FROM commands WHERE id = ?', [id]);
    return r ?? null;
  }
}
