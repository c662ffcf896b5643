import Database from 'better-sqlite3';
import { TwError } from '../../shared/errors.ts';
import { serverError } from '../errors.ts';
import { MIGRATIONS } from './migrations/index.ts';

export type Db = Database.Database;

/**
 * Opens the server database with WAL, NORMAL sync and foreign keys, checks
 * its integrity (`PRAGMA quick_check`, a pass over every page without the
 * index cross-checks), and applies pending migrations, each in a transaction
 * tracked by `user_version`.
 * @throws TwError TW_DB_CORRUPT, TW_DB_READONLY or TW_DISK_FULL (see {@link storageError}).
 */
export function openDatabase(path: string, opts: { readonly?: boolean } = {}): Db {
  let db: Db | undefined;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: false });
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw serverError('TW_DB_CORRUPT', `database ${path} is damaged (${String(check).split('\n')[0]})`);
    if (!opts.readonly) migrate(db);
    return db;
  } catch (err) {
    db?.close();
    throw storageError(err, path);
  }
}

/**
 * The catalogued error for a storage fault (SQLite's CORRUPT/NOTADB, READONLY, FULL; the file system's
 * EROFS, EACCES, ENOSPC), with what to do; any other error unchanged.
 */
export function storageError(err: unknown, path: string): unknown {
  if (err instanceof TwError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const why = (err as Error).message;
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) {
    return serverError('TW_DB_CORRUPT', `database ${path} is damaged (${why})`);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code.startsWith('SQLITE_CANTOPEN')) {
    return serverError('TW_DB_READONLY', `cannot write database ${path} (${why})`);
  }
  if (code.startsWith('SQLITE_FULL') || code === 'ENOSPC') {
    return serverError('TW_DISK_FULL', `no space left for database ${path} (${why})`);
  }
  return err;
}

/** Applies every migration above the database's `user_version`; returns the new version. */
export function migrate(db: Db): number {
  let version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw serverError('TW_DB_NEWER', `database schema ${version} is newer than this server (${MIGRATIONS.length})`);
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
