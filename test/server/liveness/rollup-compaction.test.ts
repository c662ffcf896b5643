import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport } from '../../../server/reports/report.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { livenessFixture } from './liveness-fixture.ts';

describeEngines('the heartbeat rollup', ({ open }) => {
  test('per-minute rows older than the cut are folded into hourly rows; totals and recent minutes are kept', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    const H = 60; // minutes
    const base = 480_000 * H; // an hour boundary, in minutes
    for (const host of ['a', 'b']) {
      for (let m = base; m < base + 3 * H; m++) await s.db.run('INSERT INTO heartbeat_minutes (host, minute, beats) VALUES (?, ?, ?)', [host, m, 6]);
    }
    const total = async () => (await s.db.get<{ n: number; c: number }>('SELECT SUM(beats) AS n, COUNT(*) AS c FROM heartbeat_minutes'))!;
    assert.deepEqual(await total(), { n: 2 * 3 * H * 6, c: 2 * 3 * H });

    // Fold everything before the third hour (a cut inside an hour rounds down to its start).
    const removed = await s.rollup.compact((base + 2 * H + 30) * 60_000);
    assert.equal(removed, 2 * 2 * (H - 1));
    assert.deepEqual(await total(), { n: 2 * 3 * H * 6, c: 2 * (2 + H) }, 'same beats, fewer rows');
    const rows = await s.db.all(`SELECT minute, beats FROM heartbeat_minutes WHERE host = 'a' AND minute < ? ORDER BY minute`, [base + 2 * H]);
    assert.deepEqual(rows, [
      { minute: base, beats: 360 },
      { minute: base + H, beats: 360 },
    ]);
    // Again: nothing more to fold, nothing counted twice.
    assert.equal(await s.rollup.compact((base + 2 * H + 30) * 60_000), 0);
    assert.equal((await total()).n, 2 * 3 * H * 6);

    // The report still counts every beat of the range.
    const r = await buildReport(s.db, s.hosts, base * 60_000, (base + 3 * H - 1) * 60_000);
    const beats = Object.values(r.sections)
      .flat()
      .map((h) => h.beats);
    assert.deepEqual(beats, [3 * H * 6, 3 * H * 6]);
  });

  test('counts kept in memory are written by flush, added to what is stored; prune deletes rows before the cut', async () => {
    const s = livenessFixture(await open());
    await s.addHost('a');
    await s.addHost('b');
    const t0 = s.clock.now();
    for (let i = 0; i < 3; i++) s.rollup.count('a', t0 + i * 1000);
    s.rollup.count('b', t0, 2);
    s.rollup.count('a', t0 + 60_000);
    assert.deepEqual(await s.db.all('SELECT host FROM heartbeat_minutes'), [], 'nothing written before the flush');
    await s.rollup.flush();
    s.rollup.count('a', t0);
    await s.rollup.flush();
    const m0 = Math.floor(t0 / 60_000);
    const rows = () => s.db.all('SELECT host, minute, beats FROM heartbeat_minutes ORDER BY host, minute');
    assert.deepEqual(await rows(), [
      { host: 'a', minute: m0, beats: 4 },
      { host: 'a', minute: m0 + 1, beats: 1 },
      { host: 'b', minute: m0, beats: 2 },
    ]);
    // Two callers at once (the tick and the dashboard): the second resolves only once the first has written.
    // (Many rows, so that the first write takes several statements.)
    s.rollup.count('b', t0);
    for (let i = 0; i < 5000; i++) s.rollup.count(`x${i}`, t0 - 3_600_000);
    const first = s.rollup.flush();
    await s.rollup.flush();
    assert.deepEqual(await s.db.all(`SELECT COUNT(*) AS n FROM heartbeat_minutes WHERE host LIKE 'x%'`), [{ n: 5000 }]);
    assert.deepEqual(await s.db.all(`SELECT beats FROM heartbeat_minutes WHERE host = 'b'`), [{ beats: 3 }]);
    await first;
    await s.db.run(`DELETE FROM heartbeat_minutes WHERE host LIKE 'x%'`);
    assert.equal(await s.rollup.prune(t0 + 60_000), 2);
    assert.deepEqual(await rows(), [{ host: 'a', minute: m0 + 1, beats: 1 }]);
  });
});
