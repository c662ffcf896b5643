/**
 * The store's one async query API, served by two engines: the embedded SQLite file (better-sqlite3, the default
 * and the fastest path) and PostgreSQL (`pg`, when several `serve` instances share state). Stores write plain
 * SQL that both engines accept, with `?` (positional) or `@name` (named) parameters; the PostgreSQL engine
 * rewrites those to `$n` once per text. Where the dialects differ, a store asks `db.engine`.
 *
 * Why not a query builder (Kysely): the ~120 statements are fixed texts, already reviewed as SQL; a builder
 * would rewrite them all for no new check, and SQLite's hot path (heartbeats, at 10,000 agents) needs its
 * prepared statements cached per text, which this layer does and a builder's driver does not.
 */

import { AsyncLocalStorage } from 'node:async_hooks';

export type EngineName = 'sqlite' | 'postgres';
export type Row = Record<string, unknown>;
/** Positional values for `?`, or named ones for `@name`. */
export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;

/** What runs a statement: the database itself, or one transaction on it. */
export interface Queryable {
  readonly engine: EngineName;
  /** Every row the statement returns. */
  all<T = Row>(text: string, params?: Params): Promise<T[]>;
  /** The first row, or undefined. */
  get<T = Row>(text: string, params?: Params): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves to the number of rows it changed. */
  run(text: string, params?: Params): Promise<number>;
}

export interface TxOptions {
  /**
   * A job only one instance may run at a time (retention, the daily report): on PostgreSQL the transaction
   * first takes `pg_try_advisory_xact_lock` on this name and, if another holds it, `tx` resolves to undefined
   * without running `fn`. On SQLite (one writer at a time anyway) `fn` always runs.
   */
  onlyOne?: string;
}

/** A database: statements, transactions, and a wake-up between instances. */
export interface SqlDb extends Queryable {
  /** Where it lives, for messages: the SQLite file, or the PostgreSQL URL without its password. */
  readonly name: string;
  /**
   * Runs `fn` in one transaction (SQLite: `BEGIN IMMEDIATE`, other statements wait for it; PostgreSQL: one
   * pooled connection, READ COMMITTED). Commits when `fn` resolves, rolls back when it throws.
   */
  tx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  tx<T>(fn: (tx: Queryable) => Promise<T>, opts: TxOptions): Promise<T | undefined>;
  /**
   * Runs one statement once for each set of parameters in `rows`, in order, in one transaction; resolves to
   * the first row each run returned (undefined when it returned none, as a statement without RETURNING does).
   * One failing run rolls the whole batch back and rejects. SQLite runs the batch synchronously on one cached
   * statement, without a promise or a transaction context per row (the heartbeat group commit at 10,000
   * agents); PostgreSQL sends one statement per row on one connection.
   */
  batch<T = Row>(text: string, rows: readonly Params[]): Promise<(T | undefined)[]>;
  /**
   * Wakes the other instances listening on `channel` (PostgreSQL NOTIFY; on SQLite, only this process's own
   * listeners). A wake-up only: listeners still read the database, which stays the truth.
   */
  notify(channel: string): Promise<void>;
  /** Calls `fn` on each wake-up on `channel`; returns a function that stops listening. */
  listen(channel: string, fn: () => void): () => void;
  /** Resolves once the store is reachable and migrated; rejects with why not (TW_DB_UNAVAILABLE...). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Channel names are SQL identifiers here (NOTIFY takes no parameter for them). */
export const CHANNEL_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Rewrites `?` and `@name` placeholders to PostgreSQL's `$n`, skipping string literals, quoted identifiers and
 * comments. Returns the text and, for named parameters, the names in `$n` order.
 */
export function toDollarParams(text: string): { text: string; names: string[] | null } {
  let out = '';
  let n = 0;
  const names: string[] = [];
  const byName = new Map<string, number>();
  let named = false;
  let positional = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      const stop = end < 0 ? text.length : end;
      out += text.slice(i, stop + 1);
      i = stop;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      out += text.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      positional = true;
      out += `$${++n}`;
    } else if (c === '@' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      named = true;
      let j = i + 1;
      while (j < text.length && /\w/.test(text[j]!)) j++;
      const name = text.slice(i + 1, j);
      let k = byName.get(name);
      if (k === undefined) {
        names.push(name);
        byName.set(name, (k = names.length));
      }
      out += `$${k}`;
      i = j - 1;
    } else {
      out += c;
    }
  }
  if (named && positional) throw new Error('a statement mixes ? and @name parameters');
  return { text: out, names: named ? names : null };
}

/**
 * Which transaction the running code is inside, so a statement sent to the database itself from inside one
 * fails at once instead of waiting forever (SQLite: for the transaction to end; PostgreSQL: for the row
 * locks the transaction holds). Inside a transaction, use its `tx`.
 */
export const insideTx = new AsyncLocalStorage<object>();

/** Throws when called from inside a transaction of `db` (see {@link insideTx}). */
export function assertNotInsideTx(db: object): void {
  if (insideTx.getStore() === db) {
    throw new Error('a statement on the database from inside one of its transactions: use the transaction (tx) passed to the function');
  }
}
