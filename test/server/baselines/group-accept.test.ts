import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { acceptGroup } from '../../../server/baselines/group-accept.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { buildFleetView } from '../../../server/fleet/fleet-view.ts';
import type { FileEntry } from '../../../shared/protocol.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { fileEntry } from '../../helpers/file-entry.ts';

const CRON = '/usr/sbin/cron';
const H = (c: string) => c.repeat(64);
const f = (sha: string, ino = '1', path = CRON): FileEntry => fileEntry(path, { class: 'critical', sha256: H(sha), size: 10, mode: 0o100755, ino, mtime: ino, ctime: ino });
const none = { gone: [], daemons: [], mounts: [] };

// The fleet's verdicts on PostgreSQL are those on SQLite: the same assertions hold on both engines.
describeEngines('sample hosts and accept --group', ({ open }) => {
  async function setup(hosts: readonly (readonly [string, string, number])[]) {
    const db = await open();
    const alarms = new AlarmStore(db);
    const store = new BaselineStore(db, alarms, new GroupPeers(db));
    let now = Date.parse('2026-01-01T00:00:00Z');
    const tick = () => (now += 1000);
    for (const [host, grp, sample] of hosts) {
      await db.run('INSERT INTO hosts (host, grp, sample, enrolled_at) VALUES (?, ?, ?, ?)', [host, grp, sample, now]);
      await store.applyReport(host, { files: [f('a'), f('a', '1', '/etc/crontab')], daemons: [], mounts: [] }, tick());
    }
    const openOn = (host: string) => alarms.list({ open: true, host });
    return { db, alarms, store, tick, openOn };
  }

  test('an upgrade accepted on the sample is expected elsewhere, content nobody has is a critical outlier; accept --group takes only what matches', async () => {
    const s = await setup([
      ['s1', 'web', 1],
      ['h2', 'web', 0],
      ['h3', 'web', 0],
      ['h4', 'web', 0],
    ]);
    await s.store.applyEvent('s1', { files: [f('b', '2')], ...none }, s.tick());
    assert.equal((await s.openOn('s1'))[0]?.severity, 'critical', 'nobody else has it yet');
    assert.deepEqual((await s.store.accept('s1', [CRON], s.tick())).accepted, [CRON]);
    assert.deepEqual(await s.openOn('s1'), []);
    for (const h of ['h2', 'h3']) await s.store.applyEvent(h, { files: [f('b', `3${h}`)], ...none }, s.tick());
    for (const h of ['h2', 'h3']) {
      const [a, ...rest] = await s.openOn(h);
      assert.equal(rest.length, 0);
      assert.equal(a!.kind, 'file-changed');
      assert.equal(a!.severity, 'warning');
      assert.deepEqual((a!.detail as { expected: unknown }).expected, { sample: 's1', sha256: H('b') });
      assert.deepEqual((a!.detail as { fleet: unknown }).fleet, { group: 'web', peers: 3, same: h === 'h2' ? 1 : 2 }, 'the peers with the same content when judged');
    }
    // h3 takes content nobody else has: its expected alarm gives way to one critical outlier.
    await s.store.applyEvent('h3', { files: [f('c', '4')], ...none }, s.tick());
    const [crit, ...more] = await s.openOn('h3');
    assert.equal(more.length, 0);
    assert.equal(crit!.severity, 'critical');
    assert.deepEqual((crit!.detail as { fleet: unknown }).fleet, { group: 'web', peers: 3, same: 0, outlier: true });
    // A removal on h4 is never taken from the samples.
    await s.store.applyEvent('h4', { files: [], ...none, gone: [CRON] }, s.tick());

    const v = await buildFleetView(s.db, { group: 'web' });
    assert.deepEqual(v.groups, [{ group: 'web', hosts: 4, samples: ['s1'] }]);
    const p = v.paths.find((x) => x.path === CRON)!;
    assert.deepEqual(
      p.groups[0]!.variants.map((x) => [x.content, x.hosts, x.samples, x.accepted]),
      [
        [H('b'), ['h2', 's1'], ['s1'], ['s1']],
        [H('c'), ['h3'], [], []],
        ['missing', ['h4'], [], []],
      ],
    );
    assert.deepEqual(p.groups[0]!.outliers, ['h3', 'h4']);
    assert.equal(p.varies, true);

    const r = await acceptGroup(s.db, s.store, ['h2', 'h3', 'h4', 's1'], [CRON], s.tick());
    assert.deepEqual([...r.perHost].sort(), [
      ['h2', [CRON]],
      ['h3', []],
      ['h4', []],
      ['s1', [CRON]],
    ]);
    assert.deepEqual(r.left, [
      { host: 'h3', path: CRON },
      { host: 'h4', path: CRON },
    ]);
    assert.deepEqual(await s.openOn('h2'), []);
    assert.deepEqual(
      (await s.openOn('h3')).map((a) => a.kind),
      ['file-changed'],
    );
    assert.deepEqual(
      (await s.openOn('h4')).map((a) => a.kind),
      ['file-missing'],
    );
    const after = await buildFleetView(s.db, { group: 'web' });
    const accepted = after.paths.find((x) => x.path === CRON)!.groups[0]!.variants.find((x) => x.content === H('b'))!;
    assert.deepEqual(accepted.accepted, ['h2', 's1']);
  });

  test('a host that changed before the sample is reclassified expected when the sample accepts the same content', async () => {
    const s = await setup([
      ['s1', 'web', 1],
      ['h2', 'web', 0],
    ]);
    await s.store.applyEvent('h2', { files: [f('d', '5')], ...none }, s.tick());
    assert.equal((await s.openOn('h2'))[0]!.severity, 'critical');
    await s.store.applyEvent('s1', { files: [f('d', '6')], ...none }, s.tick());
    assert.equal((await s.store.accept('s1', [CRON], s.tick())).reclassified, 1);
    const [a, ...rest] = await s.openOn('h2');
    assert.equal(rest.length, 0);
    assert.equal(a!.severity, 'warning');
    assert.equal((a!.detail as { expected: { sample: string } }).expected.sample, 's1');
  });

  test('a group without samples: accept --group takes the paths on every host, in one transaction', async () => {
    const s = await setup([
      ['d1', 'db', 0],
      ['d2', 'db', 0],
    ]);
    for (const h of ['d1', 'd2']) await s.store.applyEvent(h, { files: [f(h === 'd1' ? 'e' : 'g', '7'), f('e', '7', '/etc/crontab')], ...none }, s.tick());
    const r = await acceptGroup(s.db, s.store, ['d1', 'd2'], ['/usr/sbin'], s.tick());
    assert.deepEqual([...r.perHost].sort(), [
      ['d1', [CRON]],
      ['d2', [CRON]],
    ]);
    assert.deepEqual(r.left, []);
    for (const h of ['d1', 'd2'])
      assert.deepEqual(
        (await s.openOn(h)).map((a) => a.subject),
        ['/etc/crontab'],
      );
    const v = await buildFleetView(s.db, { varyingOnly: true });
    assert.deepEqual(
      v.paths.map((p) => p.path),
      [CRON],
      'the two hosts hold different accepted content: the path varies',
    );
    assert.deepEqual(v.paths[0]!.groups[0]!.outliers, ['d1', 'd2']);
    assert.equal(v.truncated, 0);
    const limited = await buildFleetView(s.db, { limit: 1 });
    assert.deepEqual([limited.paths.map((p) => p.path), limited.truncated], [[CRON], 1], 'varying paths first');
  });
});
