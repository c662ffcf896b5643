import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import pg from 'pg';
import { contentKey } from '../../../server/fleet/sample-match.ts';
import { type Db, openDatabase } from '../../../server/storage/db.ts';
import { MIGRATIONS, PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { tempDir } from '../../helpers/temp.ts';

/** A column as both engines can say it: its type reduced to SQLite's storage classes. */
interface Column {
  name: string;
  type: 'text' | 'integer' | 'blob' | 'real';
  notNull: boolean;
  /** The default's SQL, without PostgreSQL's cast of a literal. */
  default: string | null;
}

interface Index {
  table: string;
  columns: string[];
  unique: boolean;
  partial: boolean;
}

interface Schema {
  tables: Record<string, Column[]>;
  primaryKeys: Record<string, string[]>;
  indexes: Record<string, Index>;
  triggers: string[];
  /** PostgreSQL only: `index.column` for each column an index holds as md5 of the text (migration 17). */
  hashed: string[];
}

const SQLITE_TYPES: Record<string, Column['type']> = { INTEGER: 'integer', TEXT: 'text', BLOB: 'blob', REAL: 'real' };
const PG_TYPES: Record<string, Column['type']> = {
  bigint: 'integer',
  integer: 'integer',
  smallint: 'integer',
  text: 'text',
  bytea: 'blob',
  'double precision': 'real',
  real: 'real',
};

function sqliteSchema(db: Db): Schema {
  const schema: Schema = { tables: {}, primaryKeys: {}, indexes: {}, triggers: [], hashed: [] };
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[];
  for (const t of tables) {
    const cols = db.pragma(`table_info(${t})`) as { name: string; type: string; notnull: number; pk: number; dflt_value: string | null }[];
    // A key column is NOT NULL in PostgreSQL always; in SQLite only an INTEGER key or a WITHOUT ROWID or STRICT table's key refuses NULL.
    schema.tables[t] = cols.map((c) => ({
      name: c.name,
      type: SQLITE_TYPES[c.type.toUpperCase()] ?? (c.type as Column['type']),
      notNull: c.notnull === 1 || c.pk > 0,
      default: c.dflt_value,
    }));
    schema.primaryKeys[t] = cols
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    for (const ix of db.pragma(`index_list(${t})`) as { name: string; unique: number; origin: string; partial: number }[]) {
      if (ix.origin !== 'c') continue; // the key's and UNIQUE constraints' own indexes: compared as primaryKeys
      const columns = (db.pragma(`index_info(${ix.name})`) as { seqno: number; name: string }[]).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
      schema.indexes[ix.name] = { table: t, columns, unique: ix.unique === 1, partial: ix.partial === 1 };
    }
  }
  schema.triggers = (db.prepare(`SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1`).pluck().all() as string[]).sort();
  return schema;
}

async function pgSchema(c: pg.Client): Promise<Schema> {
  const schema: Schema = { tables: {}, primaryKeys: {}, indexes: {}, triggers: [], hashed: [] };
  const cols = await c.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
     WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  for (const r of cols.rows) {
    schema.tables[r.table_name] ??= [];
    schema.tables[r.table_name]!.push({
      name: r.column_name,
      type: PG_TYPES[r.data_type] ?? (r.data_type as Column['type']),
      notNull: r.is_nullable === 'NO',
      default: r.column_default?.replace(/::text$/, '') ?? null,
    });
  }
  const keys = await c.query<{ table: string; columns: string[] }>(
    `SELECT t.relname AS table, array_agg(a.attname::text ORDER BY k.ord) AS columns
     FROM pg_constraint p JOIN pg_class t ON t.oid = p.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     CROSS JOIN unnest(p.conkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
     WHERE n.nspname = 'public' AND p.contype = 'p' GROUP BY t.relname`,
  );
  for (const t of Object.keys(schema.tables)) schema.primaryKeys[t] = [];
  for (const r of keys.rows) schema.primaryKeys[r.table] = r.columns;
  const indexes = await c.query<{ name: string; table: string; columns: string[]; unique: boolean; partial: boolean }>(
    `SELECT ic.relname AS name, t.relname AS table, i.indisunique AS unique, i.indpred IS NOT NULL AS partial,
       (SELECT array_agg(pg_get_indexdef(i.indexrelid, k.ord::int, true) ORDER BY k.ord)
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)) AS columns
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conindid = i.indexrelid)`,
  );
  for (const r of indexes.rows) {
    // A key or unique index over a long text holds md5 of it (migration 17): the same key, compared as its column.
    const columns = r.columns.map((col) => {
      const m = /^md5\((\w+)\)$/.exec(col);
      if (m) schema.hashed.push(`${r.name}.${m[1]}`);
      return m ? m[1]! : col;
    });
    // The key PostgreSQL cannot hold as a constraint is a unique index of the constraint's name.
    if (r.name === `${r.table}_pkey` && r.unique && !r.partial) schema.primaryKeys[r.table] = columns;
    else schema.indexes[r.name] = { table: r.table, columns, unique: r.unique, partial: r.partial };
  }
  const triggers = await c.query<{ t: string }>(`SELECT DISTINCT event_object_table || '.' || trigger_name AS t FROM information_schema.triggers WHERE trigger_schema = 'public'`);
  schema.triggers = triggers.rows.map((r) => r.t).sort();
  return schema;
}

/** The same statements, run on each engine, leave the same path_contents: the triggers count alike. */
const TRIGGER_SCRIPT = [
  `INSERT INTO hosts (host, grp, enrolled_at) VALUES ('a', 'web', 1), ('b', 'web', 1), ('c', 'db', 1)`,
  `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES
     ('a', 'file', '/etc/passwd', NULL, '{"gid":0,"mode":420,"sha256":"aa","size":10,"type":"file","uid":0}', 1),
     ('b', 'file', '/etc/passwd', NULL, '{"gid":0,"mode":420,"sha256":"aa","size":10,"type":"file","uid":0}', 1),
     ('c', 'file', '/etc/passwd', NULL, '{"gid":0,"mode":420,"sha256":"bb","size":11,"type":"file","uid":0}', 1),
     ('a', 'file', '/etc/shadow', NULL, '{"error":"EACCES","type":"file"}', 1),
     ('b', 'file', '/bin/sh', NULL, '{"sha256":"cc","target":"dash","type":"symlink"}', 1),
     ('a', 'daemon', 'sshd', NULL, '{"sha256":"dd"}', 1)`,
  `UPDATE measured SET current = '{"gid":0,"mode":420,"sha256":"ee","size":12,"type":"file","uid":0}' WHERE host = 'b' AND key = '/etc/passwd'`,
  `UPDATE measured SET current = NULL WHERE host = 'a' AND key = '/etc/shadow'`,
  `UPDATE hosts SET grp = 'db' WHERE host = 'b'`,
  `UPDATE hosts SET state = 'revoked' WHERE host = 'c'`,
  `DELETE FROM measured WHERE host = 'a' AND key = '/etc/passwd'`,
  `UPDATE hosts SET state = 'active' WHERE host = 'c'`,
  `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES ('c', 'file', '/bin/sh', NULL, '{"sha256":"cc","target":"dash","type":"symlink"}', 2)`,
  `DELETE FROM hosts WHERE host = 'b'`,
];

/** File entries whose content keys must be the same text on both engines, edge cases of JSON text included. */
const CONTENT_DOCS = [
  '{"gid":0,"mode":420,"sha256":"aa","size":10,"type":"file","uid":0}',
  '{"sha256":"cc","target":"a \\"quoted\\" \\\\ target\\n\\t\\u0001 é ☃ \\ud83d\\ude00","type":"symlink"}',
  '{"sha256":"aa","error":"","size":1.5,"mode":true,"uid":false,"gid":null}',
  '{"sha256":"aa","error":"EACCES"}',
  '{"type":"file","size":3}',
  '{"sha256":null}',
  '[1,2]',
];

test('the PostgreSQL migrations build the schema the SQLite ones do', async (t: TestContext) => {
  if (!process.env.PGHOST) {
    t.skip('PostgreSQL tests need PGHOST: run under pg_virtualenv');
    return;
  }
  const name = `tw_schema_${randomBytes(6).toString('hex')}`;
  // Opened before any PostgreSQL client: a throw here must not leave a client keeping the process alive.
  const lite = openDatabase(join(tempDir('tw-pg-schema-'), 'server.db'));
  const admin = new pg.Client();
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const c = new pg.Client({ database: name });
  try {
    await c.connect();
    assert.equal(PG_MIGRATIONS.length, MIGRATIONS.length);
    for (const [i, sql] of PG_MIGRATIONS.entries()) {
      await c.query('BEGIN');
      try {
        await c.query(sql);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        assert.fail(`PostgreSQL migration ${i + 1} failed: ${(err as Error).message}`);
      }
    }

    await t.test('same tables, columns, types, NOT NULL, defaults, keys, indexes and triggers', async () => {
      const want = sqliteSchema(lite);
      const got = await pgSchema(c);
      assert.deepEqual(Object.keys(got.tables).sort(), Object.keys(want.tables).sort(), 'tables');
      for (const [table, cols] of Object.entries(want.tables)) {
        const byName = (a: Column, b: Column) => a.name.localeCompare(b.name);
        assert.deepEqual([...got.tables[table]!].sort(byName), [...cols].sort(byName), `columns of ${table}`);
      }
      assert.deepEqual(got.primaryKeys, want.primaryKeys, 'primary keys');
      assert.deepEqual(Object.keys(got.indexes).sort(), Object.keys(want.indexes).sort(), 'index names');
      assert.deepEqual(got.indexes, want.indexes, 'index tables, columns, uniqueness and partiality');
      assert.deepEqual(got.triggers, want.triggers, 'triggers');
    });

    await t.test('PostgreSQL keys every path and subject by its md5: a b-tree entry holds at most 2704 bytes', async () => {
      assert.deepEqual((await pgSchema(c)).hashed.sort(), [
        'alarms_open.subject',
        'checker_accepted_pkey.attrs',
        'checker_accepted_pkey.path',
        'measured_by_key.key',
        'measured_pkey.key',
        'path_contents_pkey.content',
        'path_contents_pkey.key',
      ]);
    });

    await t.test('a step applied again fails: a runner that repeats a migration stops', async () => {
      await c.query('BEGIN');
      await assert.rejects(c.query(PG_MIGRATIONS[0]!), /already exists/);
      await c.query('ROLLBACK');
    });

    await t.test('path_content_key writes the content key SQLite writes', async () => {
      for (const doc of CONTENT_DOCS) {
        const want = lite
          .prepare(`SELECT ${contentKey('@doc')}`)
          .pluck()
          .get({ doc });
        const got = (await c.query<{ k: string | null }>('SELECT path_content_key($1) AS k', [doc])).rows[0]!.k;
        assert.equal(got, want, doc);
      }
    });

    await t.test('the path_contents triggers count the same on both engines', async () => {
      const rows = 'SELECT grp, key, content, hosts FROM path_contents ORDER BY grp, key, content';
      await c.query('BEGIN');
      try {
        for (const [i, sql] of TRIGGER_SCRIPT.entries()) {
          lite.exec(sql);
          await c.query(sql);
          const want = (lite.prepare(rows).all() as { hosts: number }[]).map((r) => ({ ...r }));
          const got = (await c.query(rows)).rows.map((r) => ({ ...r, hosts: Number(r.hosts) }));
          assert.deepEqual(got, want, `after statement ${i + 1}: ${sql}`);
        }
        assert.ok((lite.prepare('SELECT COUNT(*) FROM path_contents WHERE content != ?').pluck().get('') as number) > 0, 'the script counts contents, not only paths');
      } finally {
        await c.query('ROLLBACK');
      }
    });
  } finally {
    lite.close();
    await c.end().catch(() => {});
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
});
