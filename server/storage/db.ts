import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations/index.ts';

export type Db = Database.Database;

/**
 * Opens the server database with WAL, NORMAL sync and foreign keys, and
 * applies pending migrations, each in a transaction tracked by `user_version`.
 */
export function openDatabase(path: string, opts: { readonly?: boolean } = {}): Db {
  const db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: false });
  db.pragma('busy_timeout = 5000');
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) migrate(db);
  return db;
}

/** Applies every migration above the database's `user_version`; returns the new version. */
export function migrate(db: Db): number {
  let version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(`database schema ${version} is newer than this server (${MIGRATIONS.length}); upgrade Tripwarden`);
  }
  while (version < MIGRATIONS.length) {
    const sql = MIGRATIONS[version]!;
    const next = version + 1;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${next}`);
    }).immediate();
    version = next;
  }
  return version;
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * The statement for `text`, compiled once per database handle. Preparing on every call was ~2 % of the
 * server's busy samples under load (each event compiled the same few statements again). Not for statements
 * that are `pluck`ed or iterated: those change or hold the shared object.
 */
export function sql(db: Db, text: string): Database.Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let st = byText.get(text);
  if (!st) byText.set(text, (st = db.prepare(text)));
  return st;
}
