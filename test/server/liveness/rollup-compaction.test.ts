import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport } from '../../../server/reports/report.ts';
import { serverDb } from '../../helpers/server-db.ts';

test('per-minute rows older than the cut are folded into hourly rows; totals and recent minutes are kept', () => {
  const s = serverDb();
  s.addHost('a');
  s.addHost('b');
  const H = 60; // minutes
  const base = 480_000 * H; // an hour boundary, in minutes
  const ins = s.db.prepare('INSERT INTO heartbeat_minutes (host, minute, beats) VALUES (?, ?, ?)');
  for (const host of ['a', 'b']) for (let m = base; m < base + 3 * H; m++) ins.run(host, m, 6);
  const total = () => s.db.prepare('SELECT SUM(beats) n, COUNT(*) c FROM heartbeat_minutes').get() as { n: number; c: number };
  assert.deepEqual(total(), { n: 2 * 3 * H * 6, c: 2 * 3 * H });

  // Fold everything before the third hour (a cut inside an hour rounds down to its start).
  const removed = s.rollup.compact((base + 2 * H + 30) * 60_000);
  assert.equal(removed, 2 * 2 * (H - 1));
  assert.deepEqual(total(), { n: 2 * 3 * H * 6, c: 2 * (2 + H) }, 'same beats, fewer rows');
  const rows = s.db.prepare(`SELECT minute, beats FROM heartbeat_minutes WHERE host = 'a' AND minute < ? ORDER BY minute`).all(base + 2 * H);
  assert.deepEqual(rows, [
    { minute: base, beats: 360 },
    { minute: base + H, beats: 360 },
  ]);
  // Again: nothing more to fold, nothing counted twice.
  assert.equal(s.rollup.compact((base + 2 * H + 30) * 60_000), 0);
  assert.equal(total().n, 2 * 3 * H * 6);

  // The report still counts every beat of the range.
  const r = buildReport(s.db, s.hosts, base * 60_000, (base + 3 * H - 1) * 60_000);
  const beats = Object.values(r.sections)
    .flat()
    .map((h) => h.beats);
  assert.deepEqual(beats, [3 * H * 6, 3 * H * 6]);
});
