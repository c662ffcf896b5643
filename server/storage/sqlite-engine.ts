import type Database from 'better-sqlite3';
import { assertNotInsideTx, CHANNEL_NAME, insideTx, type Params, type Queryable, type Row, type SqlDb, type TxOptions } from './engine.ts';

type Handle = Database.Database;
type Statement = Database.Statement;

/**
 * {@link SqlDb} over one better-sqlite3 connection. Statements run synchronously underneath and resolve at
 * once; each text is compiled once and cached. A transaction holds the connection: statements from outside it
 * wait until it ends (without that, a statement from another task that ran between the transaction's awaits
 * would join it, and be rolled back with it).
 */
export class SqliteDb implements SqlDb {
  readonly engine = 'sqlite' as const;
  readonly name: string;
  private readonly statements = new Map<string, Statement>();
  /** Resolves when the running transaction ends; null when none runs. */
  private busy: Promise<void> | null = null;
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly inTx: Queryable;

  constructor(readonly handle: Handle) {
    this.name = handle.name;
    this.inTx = {
      engine: 'sqlite',
      all: (text, params) => this.now(() => this.statement(text).all(...args(params)) as never),
      get: (text, params) => this.now(() => this.statement(text).get(...args(params)) as never),
      run: (text, params) => this.now(() => this.statement(text).run(...args(params)).changes),
    };
  }

  all<T = Row>(text: string, params?: Params): Promise<T[]> {
    return this.busy !== null ? this.afterTx(() => this.inTx.all<T>(text, params)) : this.inTx.all<T>(text, params);
  }

  get<T = Row>(text: string, params?: Params): Promise<T | undefined> {
    return this.busy !== null ? this.afterTx(() => this.inTx.get<T>(text, params)) : this.inTx.get<T>(text, params);
  }

  run(text: string, params?: Params): Promise<number> {
    return this.busy !== null ? this.afterTx(() => this.inTx.run(text, params)) : this.inTx.run(text, params);
  }

  tx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  tx<T>(fn: (tx: Queryable) => Promise<T>, opts: TxOptions): Promise<T | undefined>;
  async tx<T>(fn: (tx: Queryable) => Promise<T>, _opts?: TxOptions): Promise<T | undefined> {
    assertNotInsideTx(this);
    while (this.busy !== null) await this.busy;
    let end!: () => void;
    this.busy = new Promise((resolve) => (end = resolve));
    try {
      this.handle.exec('BEGIN IMMEDIATE');
      const value = await insideTx.run(this, () => fn(this.inTx));
      this.handle.exec('COMMIT');
      return value;
    } catch (err) {
      if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
      throw err;
    } finally {
      this.busy = null;
      end();
    }
  }

  async batch<T = Row>(text: string, rows: readonly Params[]): Promise<(T | undefined)[]> {
    assertNotInsideTx(this);
    while (this.busy !== null) await this.busy;
    const st = this.statement(text);
    const out: (T | undefined)[] = [];
    // Synchronous from BEGIN to COMMIT: nothing else can run on the connection in between, so no busy flag.
    this.handle.exec('BEGIN IMMEDIATE');
    try {
      if (st.reader) for (const p of rows) out.push(st.get(...args(p)) as T | undefined);
      else
        for (const p of rows) {
          st.run(...args(p));
          out.push(undefined);
        }
      // An explicit COMMIT reports a failed write (a full disk), which a bare autocommit get() did not.
      this.handle.exec('COMMIT');
    } catch (err) {
      if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
      throw err;
    }
    return out;
  }

  async notify(channel: string): Promise<void> {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`bad channel name ${channel}`);
    for (const fn of this.listeners.get(channel) ?? []) queueMicrotask(fn);
  }

  listen(channel: string, fn: () => void): () => void {
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Opened and migrated synchronously by {@link openDatabase}. */
  async ready(): Promise<void> {}

  async close(): Promise<void> {
    while (this.busy !== null) await this.busy;
    this.statements.clear();
    if (this.handle.open) this.handle.close();
  }

  private statement(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) this.statements.set(text, (st = this.handle.prepare(text)));
    return st;
  }

  private async afterTx<T>(fn: () => Promise<T>): Promise<T> {
    assertNotInsideTx(this);
    while (this.busy !== null) await this.busy;
    return fn();
  }

  /** Runs a synchronous statement, turning its throw into a rejection. */
  private now<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

function args(params: Params | undefined): unknown[] {
  if (params === undefined) return [];
  return Array.isArray(params) ? params : [params];
}
