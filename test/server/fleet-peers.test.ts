import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../server/db.ts';
import { GroupPeers } from '../../server/fleet-peers.ts';
import { canonicalJson } from '../../shared/state-digest.ts';
import { classifyChange } from '../../server/sample-match.ts';
import type { FileEntry } from '../../shared/protocol.ts';

const PATH = '/usr/sbin/cron';
const H = (c: string) => c.repeat(64);
const f = (sha: string | undefined, over: Partial<FileEntry> = {}): FileEntry => ({
  path: PATH, class: 'critical', type: 'file', ...(sha ? { sha256: H(sha) } : {}), size: 10, mode: 0o100755, uid: 0, gid: 0, ino: '1', nlink: 1, mtime: '1', ctime: '1', ...over,
});

// A small deterministic generator, so a failure names a reproducible case.
let seed = 7;
const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

test('judgingPeers gives classifyChange the same verdict as every peer of the group', () => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'tw-peers-')), 'p.db'));
  const peers = new GroupPeers(db);
  const contents: (FileEntry | null)[] = [null, f('a'), f('b'), f('a', { mode: 0o104755 }), f('c'), f(undefined, { error: 'EACCES' }), f('b', { ino: '9', mtime: '9' })];
  const ins = db.prepare('INSERT INTO hosts (host, grp, sample, state, enrolled_at) VALUES (?, ?, ?, ?, 0)');
  const row = db.prepare(`INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, 'file', ?, ?, ?, 0)`);
  for (let i = 0; i < 120; i++) {
    const host = `h${i}`;
    ins.run(host, pick(['web', 'web', 'db']), rnd(5) === 0 ? 1 : 0, rnd(10) === 0 ? 'revoked' : 'active');
    if (rnd(6) === 0) continue; // no row for the path
    const b = pick(contents);
    const c = pick(contents);
    row.run(host, PATH, b && canonicalJson(b), c && canonicalJson(c));
  }
  let cases = 0;
  let decided = 0;
  for (let i = 0; i < 120; i += 3) {
    const host = `h${i}`;
    const place = peers.place(host);
    for (const current of contents) {
      for (const isSample of [false, true]) {
        const o = { isSample, cls: 'critical' as const };
        const all = classifyChange(current, { ...o, peers: peers.peers(place.group, host, PATH) });
        const fast = classifyChange(current, { ...o, ...peers.judgingPeers(place.group, host, PATH, current?.sha256) });
        assert.deepEqual(fast, all, `host ${host} (${place.group}), current ${JSON.stringify(current)}, sample ${isSample}`);
        cases++;
        if (all.expected || all.same) decided++;
      }
    }
  }
  // The comparison covered verdicts that depend on peers, not only empty ones.
  assert.ok(cases > 200 && decided > 20, `${cases} cases, ${decided} with a sample or same-content peer`);
  db.close();
});
