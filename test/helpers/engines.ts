import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import pg from 'pg';
import type { EngineName, SqlDb } from '../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../server/storage/open-db.ts';

/** Why the PostgreSQL half of a suite is skipped, or null when it runs (pg_virtualenv sets PGHOST). */
export const PG_SKIP: string | null = process.env.PGHOST ? null : 'PostgreSQL tests need PGHOST: run them under pg_virtualenv (npm test does when PostgreSQL is installed)';

/** Both engines, PostgreSQL first skipped when {@link PG_SKIP}. */
export const ENGINES: readonly EngineName[] = ['sqlite', 'postgres'];

/** The URL of database `name` on the server pg_virtualenv (or the PG* environment) points at. */
export function pgUrl(name: string): string {
  const e = process.env;
  const auth = `${encodeURIComponent(e.PGUSER ?? 'postgres')}${e.PGPASSWORD ? `:${encodeURIComponent(e.PGPASSWORD)}` : ''}`;
  return `postgres://${auth}@${e.PGHOST ?? 'localhost'}:${e.PGPORT ?? '5432'}/${name}`;
}

/** Runs one statement on the server's `postgres` database (CREATE/DROP DATABASE cannot run in a pool's tx). */
async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A fresh, empty PostgreSQL database; returns its URL and a function that drops it. */
export async function freshPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tw_t_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  return { url: pgUrl(name), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A migrated store on `engine` in a fresh place (a temp SQLite file, or a new PostgreSQL database). */
export interface TestDb {
  db: SqlDb;
  /** Where another process (a second `serve`) finds the same store: the SQLite path or the PostgreSQL URL. */
  target: string;
  /** Closes the store and removes it. */
  cleanup(): Promise<void>;
}

export async function openTestDb(engine: EngineName): Promise<TestDb> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tw-db-'));
    const target = join(dir, 'tripwarden.db');
    const db = openSqlDb(target, PG_MIGRATIONS);
    return {
      db,
      target,
      cleanup: async () => {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const fresh = await freshPgDatabase();
  const db = openSqlDb(fresh.url, PG_MIGRATIONS);
  await db.ready();
  return {
    db,
    target: fresh.url,
    cleanup: async () => {
      await db.close();
      await fresh.drop();
    },
  };
}

/**
 * The conformance suite's frame: `describe`s `title` once per engine (`title [sqlite]`, `title [postgres]`),
 * the PostgreSQL one skipped with its printed reason when no server is at hand. `open()` gives each test its
 * own fresh, migrated store, closed and removed after the describe.
 */
export function describeEngines(title: string, body: (ctx: { engine: EngineName; open: () => Promise<SqlDb> }) => void): void {
  for (const engine of ENGINES) {
    const skip = engine === 'postgres' ? PG_SKIP : null;
    describe(`${title} [${engine}]`, skip ? { skip } : {}, () => {
      const opened: TestDb[] = [];
      after(async () => {
        for (const t of opened) await t.cleanup();
      });
      body({
        engine,
        open: async () => {
          const t = await openTestDb(engine);
          opened.push(t);
          return t.db;
        },
      });
    });
  }
}
