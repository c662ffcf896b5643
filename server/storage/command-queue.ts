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
