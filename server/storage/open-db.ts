import type { Logger } from '../../shared/log.ts';
import { serverError } from '../errors.ts';
import { openDatabase } from './db.ts';
import type { Queryable, SqlDb } from './engine.ts';
import { PgDb, unavailable } from './pg-engine.ts';
import { SqliteDb } from './sqlite-engine.ts';

/** Whether `database` (server.yml) names a PostgreSQL database rather than a SQLite file. */
export const isPostgresUrl = (database: string | undefined): database is string => !!database && /^postgres(ql)?:\/\//.test(database);

/** The advisory lock every instance takes to migrate, so two starting at once apply each migration once. */
const MIGRATE_LOCK = '7303311411';

/**
 * Opens the store: a PostgreSQL URL → {@link PgDb}, migrated before its first statement (await `ready()` to
 * fail fast); anything else is the path of the SQLite file → {@link SqliteDb}, integrity-checked and migrated
 * now by {@link openDatabase}.
 * @throws TwError the SQLite codes of {@link openDatabase}; PostgreSQL's faults come from `ready()` and every
 * statement (TW_DB_UNAVAILABLE, TW_DB_NEWER).
 */
export function openSqlDb(target: string, pgMigrations: readonly string[], log?: Logger): SqlDb {
  if (!isPostgresUrl(target)) return new SqliteDb(openDatabase(target));
  const name = target;
  return new PgDb(target, {
    log,
    migrate: (db) => migratePg(db, pgMigrations).catch((err) => Promise.reject(unavailable(err, name))),
  });
}

/**
 * Applies every PostgreSQL migration above the stored version, each in its own transaction under one
 * transaction-scoped advisory lock (instances starting together queue; each re-reads the version).
 * @returns the version now.
 */
export async function migratePg(db: Queryable & Pick<SqlDb, 'tx'>, migrations: readonly string[]): Promise<number> {
  await db.run('CREATE TABLE IF NOT EXISTS tw_schema (version INTEGER NOT NULL)');
  for (;;) {
    const step = await db.tx(async (tx) => {
      await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`);
      const row = await tx.get<{ version: number }>('SELECT version FROM tw_schema');
      const version = row?.version ?? 0;
      if (version > migrations.length) {
        throw serverError('TW_DB_NEWER', `database schema ${version} is newer than this server (${migrations.length})`);
      }
      if (version === migrations.length) return null;
      await tx.run(migrations[version]!);
      if (row) await tx.run('UPDATE tw_schema SET version = ?', [version + 1]);
      else await tx.run('INSERT INTO tw_schema (version) VALUES (?)', [version + 1]);
      return version + 1;
    });
    if (step === null) return migrations.length;
  }
}
