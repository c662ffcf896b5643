import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { classifyChange, contentKey } from '../../../server/fleet/sample-match.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { measuredKey } from '../../../server/storage/text-key.ts';
import type { FileEntry } from '../../../shared/protocol.ts';
import { canonicalJson } from '../../../shared/state-digest.ts';
import { describeEngines } from '../../helpers/engines.ts';

const PATH = '/usr/sbin/cron';
const OTHER = '/etc/crontab';
const H = (c: string) => c.repeat(64);
const f = (sha: string | undefined, over: Partial<FileEntry> = {}): FileEntry => ({
  path: PATH,
  class: 'critical',
  type: 'file',
  ...(sha ? { sha256: H(sha) } : {}),
  size: 10,
  mode: 0o100755,
  uid: 0,
  gid: 0,
  ino: '1',
  nlink: 1,
  mtime: '1',
  ctime: '1',
  ...over,
});

// A small deterministic generator, so a failure names a reproducible case.
let seed = 7;
// The high bits: an LCG modulo 2^31 repeats its low bits with short periods.
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return (seed >>> 12) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

/** path_contents recounted from scratch (the migration's own query shape), to compare with what the triggers kept. */
function recountText(engine: SqlDb['engine']): string {
  // The content key: SQLite's JSON expression, or migration 8's function of the same text on PostgreSQL.
  const key = (json: string) => (engine === 'postgres' ? `path_content_key(${json})` : contentKey(json));
  return `SELECT h.grp || ' ' || p.key || ' ' || p.content || ' ' || COUNT(*) AS r FROM hosts h JOIN (
       SELECT host, key, '' AS content FROM measured WHERE kind = 'file' AND current IS NOT NULL
       UNION ALL SELECT host, key, ${key('current')} FROM measured WHERE kind = 'file' AND current IS NOT NULL AND ${key('current')} IS NOT NULL
     ) p ON p.host = h.host WHERE h.state != 'revoked' GROUP BY h.grp, p.key, p.content`;
}
// Sorted in JavaScript: PostgreSQL's ORDER BY follows the database's collation.
const sorted = (rows: { r: string }[]) => rows.map((x) => x.r).sort();
const recount = async (db: SqlDb) => sorted(await db.all<{ r: string }>(recountText(db.engine)));
const kept = async (db: SqlDb) => sorted(await db.all<{ r: string }>(`SELECT grp || ' ' || key || ' ' || content || ' ' || hosts AS r FROM path_contents`));

describeEngines('the group peers', ({ open }) => {
  test('judgingPeers gives classifyChange the same verdict as every peer of the group, and the counts follow every write', async () => {
    const db = await open();
    seed = 7; // the same cases on each engine
    const peers = new GroupPeers(db);
    const contents: (FileEntry | null)[] = [
      null,
      f('a'),
      f('b'),
      f('a', { mode: 0o104755 }),
      f('c'),
      f(undefined, { error: 'EACCES' }),
      f('b', { ino: '9', mtime: '9' }),
      f('a', { target: '/x' }),
    ];
    const ins = { run: (...a: unknown[]) => db.run('INSERT INTO hosts (host, grp, sample, state, enrolled_at) VALUES (?, ?, ?, ?, 0)', a) };
    // As BaselineStore writes: the upsert (its DO UPDATE must move the counts too), setGone, delete.
    const upsert = {
      run: (...a: unknown[]) =>
        db.run(
          `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, 'file', ?, ?, ?, 0)
    ON CONFLICT ${measuredKey(db.engine)} DO UPDATE SET current = excluded.current, updated_at = excluded.updated_at`,
          a,
        ),
    };
    const json = (e: FileEntry | null) => e && canonicalJson(e);
    const N = 120;
    for (let i = 0; i < N; i++) {
      const host = `h${i}`;
      await ins.run(host, pick(['web', 'web', 'db']), rnd(5) === 0 ? 1 : 0, rnd(10) === 0 ? 'revoked' : 'active');
      for (const path of [PATH, OTHER]) {
        if (rnd(6) === 0) continue; // no row for the path
        await upsert.run(host, path, json(pick(contents)), json(pick(contents)));
      }
    }
    let cases = 0;
    let decided = 0;
    const compare = async (round: number) => {
      assert.deepEqual(await kept(db), await recount(db), `round ${round}: the triggers' counts equal a recount`);
      for (let i = round % 3; i < N; i += 3) {
        const host = `h${i}`;
        const place = await peers.place(host);
        for (const current of contents) {
          // The judged row holds the content being judged, as after BaselineStore's upsert.
          await upsert.run(host, PATH, null, json(current));
          for (const isSample of [false, true]) {
            const o = { isSample, cls: 'critical' as const };
            const all = classifyChange(current, { ...o, peers: await peers.peers(place.group, host, PATH) });
            const fast = classifyChange(current, { ...o, ...(await peers.judgingPeers(place.group, host, PATH, json(current))) });
            assert.deepEqual(fast, all, `round ${round}: host ${host} (${place.group}), current ${JSON.stringify(current)}, sample ${isSample}`);
            cases++;
            if (all.expected || all.same) decided++;
          }
        }
      }
    };
    await compare(0);
    // Every other kind of write, at random: content changes, files gone and back, rows deleted, hosts moved
    // between groups, revoked and enrolled again, made samples.
    for (let round = 1; round <= 4; round++) {
      for (let k = 0; k < 150; k++) {
        const host = `h${rnd(N)}`;
        const path = pick([PATH, OTHER]);
        switch (rnd(6)) {
          case 0:
            await upsert.run(host, path, null, json(pick(contents)));
            break;
          case 1:
            await db.run(`UPDATE measured SET current = NULL WHERE host = ? AND kind = 'file' AND key = ?`, [host, path]);
            break;
          case 2:
            await db.run(`DELETE FROM measured WHERE host = ? AND kind = 'file' AND key = ?`, [host, path]);
            break;
          case 3:
            await db.run('UPDATE hosts SET grp = ? WHERE host = ?', [pick(['web', 'db', 'edge']), host]);
            break;
          case 4:
            await db.run('UPDATE hosts SET state = ? WHERE host = ?', [pick(['revoked', 'active', 'stopped']), host]);
            break;
          case 5:
            await db.run('UPDATE hosts SET sample = ?, grp = grp WHERE host = ?', [rnd(2), host]);
            break;
        }
      }
      await compare(round);
    }
    // The comparison covered verdicts that depend on peers, not only empty ones.
    assert.ok(cases > 1000 && decided > 100, `${cases} cases, ${decided} with a sample or same-content peer`);
  });
});

test('migration 8 counts what a database already holds', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'tw-peers-')), 'old.db');
  const old = new Database(path);
  MIGRATIONS.slice(0, 7).forEach((sql, i) => {
    old.exec(sql);
    old.pragma(`user_version = ${i + 1}`);
  });
  const ins = old.prepare('INSERT INTO hosts (host, grp, sample, state, enrolled_at) VALUES (?, ?, 0, ?, 0)');
  const row = old.prepare(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, NULL, ?, 0)`);
  for (let i = 0; i < 40; i++) {
    ins.run(`h${i}`, ['web', 'db'][i % 2], i % 7 === 0 ? 'revoked' : 'active');
    row.run(`h${i}`, 'file', PATH, [null, canonicalJson(f('a')), canonicalJson(f('b')), canonicalJson(f(undefined, { error: 'EIO' }))][Math.floor(i / 2) % 4]);
    row.run(`h${i}`, 'daemon', 'cron', '{"name":"cron"}'); // not a file: never counted
  }
  old.close();
  const db = openDatabase(path);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  const counts = sorted(db.prepare(`SELECT grp || ' ' || key || ' ' || content || ' ' || hosts AS r FROM path_contents`).all() as { r: string }[]);
  assert.ok(counts.length >= 4, counts.join('\n'));
  assert.deepEqual(counts, sorted(db.prepare(recountText('sqlite')).all() as { r: string }[]));
  db.close();
});
