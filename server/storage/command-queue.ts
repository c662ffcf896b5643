import type { Db } from './db.ts';

/** Effects a CLI command asks of a running `serve`. */
export type CommandAction = 'close-host';

export interface Command {
  id: number;
  action: CommandAction;
  host: string | null;
  arg: string | null;
}

/**
 * A queue in the database through which CLI commands reach a running `serve`
 * (which polls it): the CLI writes the state change and the command in one
 * transaction, so the effect is durable even when no server runs.
 */
export class CommandQueue {
  constructor(private readonly db: Db) {}

  enqueue(action: CommandAction, host: string | null, arg: string | null, now: number): void {
    this.db.prepare('INSERT INTO commands (action, host, arg, created_at) VALUES (?, ?, ?, ?)').run(action, host, arg, now);
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
}
