import { createHash } from 'node:crypto';
import './pg-navigator.ts';
import pg from 'pg';
import { TwError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { serverError } from '../errors.ts';
import { assertNotInsideTx, CHANNEL_NAME, insideTx, type Params, type Queryable, type Row, type SqlDb, type TxOptions, toDollarParams } from './engine.ts';

/** int8 (counts, ms timestamps) and numeric (sums) as numbers: every value the store keeps fits in 2^53. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** A 64-bit advisory lock key for a job name (the high bits of its SHA-256, as a signed bigint string). */
export function lockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

interface Translated {
  text: string;
  names: string[] | null;
}

/** How long opening a connection may take before the database counts as unreachable, in ms. */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * How long PostgreSQL lets one of our sessions sit idle inside a transaction before it ends the session, in
 * ms. An instance frozen mid-transaction (SIGSTOP, a stopped VM) would otherwise hold its row locks forever,
 * and every survivor's write to those rows (a host's hello, the frozen instance's own lease when it is declared
 * down) would wait on it. Our transactions never wait on anything but their own statements, so a live
 * instance idles this long inside one only when its whole process is stalled, which its lease (declared down
 * after 10 s) already treats as gone.
 */
export const IDLE_TX_TIMEOUT_MS = 10_000;

/** Connection faults: the database restarting, refusing, or cut off. The caller retries; nothing is lost. */
const UNAVAILABLE = new Set(['25P03', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006']);

/**
 * {@link SqlDb} over a `pg` pool. The pool's `error` event (an idle client's connection dying, as when the
 * database restarts) is handled: unhandled, it kills the process. The listening client is our own and is
 * reconnected after its connection dies (pg does not re-LISTEN by itself).
 */
export class PgDb implements SqlDb {
  readonly engine = 'postgres' as const;
  readonly name: string;
  private readonly pool: pg.Pool;
  private readonly texts = new Map<string, Translated>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private listener: pg.Client | null = null;
  private listenRetry: NodeJS.Timeout | null = null;
  private closed = false;

  /** The latest migration attempt; every statement waits for it ({@link schema}). */
  private migrated: Promise<void>;

  /**
   * Connects lazily: the constructor only starts migrating (`migrate` runs on the pool before any statement
   * of ours), so opening the store stays synchronous; await {@link ready} to fail fast.
   */
  constructor(
    private readonly url: string,
    o: { log?: Logger; poolSize?: number; connectTimeoutMs?: number; idleTxTimeoutMs?: number; migrate?: (db: Queryable & Pick<SqlDb, 'tx'>) => Promise<unknown> } = {},
  ) {
    this.log = o.log;
    this.name = redactUrl(url);
    // The pool's own connectionTimeoutMillis also bounds the wait for a free client in its queue: a burst
    // longer than that (thousands of agents failing over to this instance at once) failed statements on a
    // healthy database, and the agents, refused, came back for another handshake. The bound belongs on
    // opening a connection (an unreachable database still fails fast); a statement queued behind busy
    // clients waits its turn, as on SQLite's one connection.
    const connectTimeoutMs = o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const idleTx = o.idleTxTimeoutMs ?? IDLE_TX_TIMEOUT_MS;
    const Client = class extends pg.Client {
      constructor(c: pg.ClientConfig = {}) {
        super({ ...c, connectionTimeoutMillis: connectTimeoutMs, idle_in_transaction_session_timeout: idleTx });
      }
    };
    this.pool = new pg.Pool({ connectionString: url, max: o.poolSize ?? 10, types, idleTimeoutMillis: 30_000, allowExitOnIdle: true, Client });
    this.pool.on('error', (err) => this.log?.warn({ err: err.message, code: (err as { code?: string }).code }, 'database connection lost; the pool reconnects'));
    const raw = { engine: 'postgres' as const, all: this.rawAll, get: this.rawGet, run: this.rawRun, tx: this.rawTx };
    const migrate = o.migrate;
    this.migrate = migrate ? () => migrate(raw as never).then(() => undefined) : () => Promise.resolve();
    this.migrated = this.migrate();
    this.migrated.catch(() => {});
  }

  private readonly log: Logger | undefined;
  private readonly migrate: () => Promise<void>;

  /** Rejects when the first migration failed: `serve` stops at start, as it should with no database. */
  ready(): Promise<void> {
    return this.migrated;
  }

  /**
   * Waits for the schema. A migration that failed because the database was unreachable (a connect timing out
   * on a loaded host) is tried again by the next statement: a rejected promise kept for good made every later
   * statement fail though the database was back (a long-lived reader, a CLI, a dashboard refresh).
   */
  private async schema(): Promise<void> {
    const attempt = this.migrated;
    try {
      await attempt;
    } catch (err) {
      if (this.closed || !(err instanceof TwError && err.code === 'TW_DB_UNAVAILABLE')) throw err;
      if (this.migrated === attempt) {
        this.migrated = this.migrate();
        this.migrated.catch(() => {});
      }
      await this.migrated;
    }
  }

  async all<T = Row>(text: string, params?: Params): Promise<T[]> {
    assertNotInsideTx(this);
    await this.schema();
    return this.rawAll<T>(text, params);
  }

  async get<T = Row>(text: string, params?: Params): Promise<T | undefined> {
    assertNotInsideTx(this);
    await this.schema();
    return this.rawGet<T>(text, params);
  }

  async run(text: string, params?: Params): Promise<number> {
    assertNotInsideTx(this);
    await this.schema();
    return this.rawRun(text, params);
  }

  tx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  tx<T>(fn: (tx: Queryable) => Promise<T>, opts: TxOptions): Promise<T | undefined>;
  async tx<T>(fn: (tx: Queryable) => Promise<T>, opts?: TxOptions): Promise<T | undefined> {
    assertNotInsideTx(this);
    await this.schema();
    return this.rawTx(fn, opts);
  }

  async batch<T = Row>(text: string, rows: readonly Params[]): Promise<(T | undefined)[]> {
    const out: (T | undefined)[] = [];
    await this.tx(async (q) => {
      for (const p of rows) out.push(await q.get<T>(text, p));
    });
    return out;
  }

  private readonly rawAll = <T>(text: string, params?: Params): Promise<T[]> => this.query(this.pool, text, params).then((r) => r.rows as T[]);
  private readonly rawGet = <T>(text: string, params?: Params): Promise<T | undefined> => this.query(this.pool, text, params).then((r) => r.rows[0] as T | undefined);
  private readonly rawRun = (text: string, params?: Params): Promise<number> => this.query(this.pool, text, params).then((r) => r.rowCount ?? 0);

  private readonly rawTx = async <T>(fn: (tx: Queryable) => Promise<T>, opts?: TxOptions): Promise<T | undefined> => {
    const client = await this.pool.connect().catch((err) => Promise.reject(unavailable(err, this.name)));
    let broken: Error | undefined;
    // A checked-out client has no pool listener: its connection dying between two statements (the database
    // restarting while the transaction waits on its caller) emits `error` with none, which kills the process.
    // The next statement on it then fails as TW_DB_UNAVAILABLE and the client is dropped.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (opts?.onlyOne) {
        const got = await client.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS got', [lockKey(opts.onlyOne)]);
        if (!got.rows[0]?.got) {
          await client.query('ROLLBACK');
          return undefined;
        }
      }
      const q: Queryable = {
        engine: 'postgres',
        all: (text, params) => this.query(client, text, params).then((r) => r.rows as never),
        get: (text, params) => this.query(client, text, params).then((r) => r.rows[0] as never),
        run: (text, params) => this.query(client, text, params).then((r) => r.rowCount ?? 0),
      };
      const value = await insideTx.run(this, () => fn(q));
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  };

  async notify(channel: string): Promise<void> {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`bad channel name ${channel}`);
    await this.schema();
    await this.pool.query(`NOTIFY ${channel}`).catch((err) => Promise.reject(unavailable(err, this.name)));
  }

  listen(channel: string, fn: () => void): () => void {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`bad channel name ${channel}`);
    let set = this.listeners.get(channel);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      if (this.listener) this.listener.query(`LISTEN ${channel}`).catch(() => this.relisten());
      else this.relisten();
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.migrated.catch(() => {});
    if (this.listenRetry) clearTimeout(this.listenRetry);
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.pool.end();
  }

  /** (Re)connects the listening client and LISTENs on every channel; retried every second while it fails. */
  private relisten(): void {
    if (this.closed || this.listenRetry) return;
    const old = this.listener;
    this.listener = null;
    old?.end().catch(() => {});
    const client = new pg.Client({ connectionString: this.url, types });
    const retry = () => {
      client.removeAllListeners('end');
      client.end().catch(() => {});
      if (this.listener === client) this.listener = null;
      if (this.closed || this.listenRetry) return;
      this.listenRetry = setTimeout(() => {
        this.listenRetry = null;
        this.relisten();
      }, 1000);
      this.listenRetry.unref();
    };
    client.on('error', (err) => {
      this.log?.warn({ err: err.message }, 'database wake-up connection lost; reconnecting');
      retry();
    });
    client.on('end', retry);
    client.on('notification', (n) => {
      for (const fn of this.listeners.get(n.channel) ?? []) {
        try {
          fn();
        } catch (err) {
          this.log?.warn({ err: (err as Error).message, channel: n.channel }, 'wake-up listener failed');
        }
      }
    });
    client
      .connect()
      .then(async () => {
        if (this.closed) return client.end();
        this.listener = client;
        for (const channel of this.listeners.keys()) await client.query(`LISTEN ${channel}`);
        // A wake-up may have been missed while the connection was down: wake every listener once.
        for (const set of this.listeners.values()) for (const fn of set) fn();
      })
      .catch(retry);
  }

  private query(on: pg.Pool | pg.PoolClient, text: string, params: Params | undefined): Promise<pg.QueryResult> {
    let t = this.texts.get(text);
    if (!t) this.texts.set(text, (t = toDollarParams(text)));
    let values: unknown[] = [];
    if (params !== undefined) {
      if (Array.isArray(params)) values = params as unknown[];
      else if (t.names) values = t.names.map((n) => (params as Record<string, unknown>)[n]);
    }
    return on.query(t.text, values).catch((err) => Promise.reject(unavailable(err, this.name)));
  }
}

/** A connection fault as TW_DB_UNAVAILABLE (with what to do); any other error (a bad statement) unchanged. */
export function unavailable(err: unknown, name: string): unknown {
  if (err instanceof TwError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const msg = (err as Error).message ?? String(err);
  if (UNAVAILABLE.has(code) || /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error/i.test(msg)) {
    return serverError('TW_DB_UNAVAILABLE', `database ${name} is unreachable (${msg})`);
  }
  return err;
}
