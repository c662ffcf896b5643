import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { EventLedger } from '../../../server/baselines/event-ledger.ts';
import { CheckerResults } from '../../../server/checkers/checker-results.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { buildFleetView } from '../../../server/fleet/fleet-view.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { createLogger } from '../../../shared/log.ts';
import type { FileEntry, SpoolRecord } from '../../../shared/protocol.ts';
import { GENESIS_HASH, recordHash } from '../../../shared/spool-chain.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { fileEntry as f } from '../../helpers/file-entry.ts';
import { BOOT } from '../../helpers/server-db.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
/** The protocol's longest path, in UTF-16 units. */
const MAX = 4096;

/**
 * An absolute path of exactly MAX units, as an intruder builds one under a guarded directory: nested
 * directories of long names. Random characters, so no compression can make the key small.
 */
function longPath(alphabet: (i: number) => string): string {
  let p = '/etc';
  while (p.length < MAX) {
    let name = '';
    for (let i = 0; i < 200 && p.length + 1 + name.length < MAX; i++) name += alphabet(i);
    p += `/${name}`;
  }
  return p;
}
const bytes = randomBytes(MAX * 2);
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
let n = 0;
const ASCII = longPath(() => B64[bytes[n++ % bytes.length]! % 64]!);
// Three bytes of UTF-8 each: ~12 KB of key at the protocol's limit.
const WIDE = longPath(() => String.fromCharCode(0x4e00 + ((bytes[n++ % bytes.length]! << 4) | (n % 16))));
const TARGET = ASCII.replace('/etc', '/var');

const openAlarms = async (alarms: AlarmStore) => (await alarms.list({ open: true })).map((a) => `${a.kind} ${a.subject}`).sort();

describeEngines('paths and subjects at the protocol limit', ({ open }) => {
  async function setup(): Promise<{ db: SqlDb; store: BaselineStore; alarms: AlarmStore }> {
    const db = await open();
    await db.run("INSERT INTO hosts (host, grp, enrolled_at, cert_serial) VALUES ('h', 'web', ?, 's1'), ('p', 'web', ?, 's2')", [T0, T0]);
    const alarms = new AlarmStore(db);
    return { db, store: new BaselineStore(db, alarms, new GroupPeers(db)), alarms };
  }

  test('the test paths are at the limit and too long for a btree entry', () => {
    assert.equal(ASCII.length, MAX);
    assert.equal(WIDE.length, MAX);
    assert.ok(Buffer.byteLength(WIDE) > 12_000);
    assert.ok(Buffer.byteLength(TARGET) > 2704);
  });

  test('a long path in an event opens its alarm beside the host’s normal findings, and is accepted by name', async () => {
    const { db, store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/etc/passwd'), f('/etc/hosts')], daemons: [], mounts: [] }, T0);
    await store.applyReport('p', { files: [f('/etc/passwd'), f('/etc/hosts')], daemons: [], mounts: [] }, T0);
    await store.applyEvent(
      'h',
      { files: [f(ASCII), f(WIDE), f('/etc/passwd', { size: 2 }), f('/etc/link', { type: 'symlink', target: TARGET })], gone: ['/etc/hosts'], daemons: [], mounts: [] },
      T0 + 1,
    );
    assert.deepEqual(await openAlarms(alarms), [`file-added ${ASCII}`, 'file-added /etc/link', `file-added ${WIDE}`, 'file-changed /etc/passwd', 'file-missing /etc/hosts'].sort());
    const stored = await db.all<{ key: string }>("SELECT key FROM measured WHERE host = 'h' AND kind = 'file' AND current IS NOT NULL");
    assert.deepEqual(stored.map((r) => r.key).sort(), [ASCII, WIDE, '/etc/link', '/etc/passwd'].sort());

    // The same long path again is the same row and the same alarm, not a second one.
    await store.applyEvent('h', { files: [f(ASCII, { size: 3 })], gone: [], daemons: [], mounts: [] }, T0 + 2);
    assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM measured WHERE key = ?', [ASCII]))!.n, 1);
    assert.equal((await alarms.list({ open: true })).filter((a) => a.subject === ASCII).length, 1);

    const r = await store.accept('h', [ASCII, WIDE], T0 + 3);
    assert.deepEqual(r.accepted, [ASCII, WIDE].sort());
    assert.deepEqual(r.unmatched, []);
    assert.deepEqual(await openAlarms(alarms), ['file-added /etc/link', 'file-changed /etc/passwd', 'file-missing /etc/hosts']);

    const view = await buildFleetView(db, { group: 'web' });
    const paths = view.paths.map((p) => p.path);
    assert.ok(paths.includes(ASCII) && paths.includes(WIDE) && paths.includes('/etc/passwd'), 'the fleet view lists the long paths beside the others');

    // Gone again: the long rows leave the store and the group counts.
    await store.applyEvent('h', { files: [], gone: [ASCII, WIDE, '/etc/link'], daemons: [], mounts: [] }, T0 + 4);
    assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM path_contents WHERE key IN (?, ?)', [ASCII, WIDE]))!.n, 0);
  });

  test('a long path in a full report is judged like any other', async () => {
    const { db, store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/etc/passwd')], daemons: [], mounts: [] }, T0);
    await store.applyReport('h', { files: [f('/etc/passwd', { size: 5 }), f(WIDE), f('/etc/link', { type: 'symlink', target: TARGET })], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await openAlarms(alarms), ['file-added /etc/link', `file-added ${WIDE}`, 'file-changed /etc/passwd'].sort());
    assert.equal((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM measured WHERE host = 'h'"))!.n, 3);
  });

  test('a spooled event with a long path is stored and acknowledged, and the records after it too', async () => {
    // The agent resends an unacknowledged record on every connection and each later record waits behind it: a
    // record the store cannot take would stop the host's whole chain while its heartbeats keep it up.
    const { db, store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/etc/passwd'), f('/etc/hosts')], daemons: [], mounts: [] }, T0);
    const ledger = new EventLedger(db, alarms, store);
    let prev = GENESIS_HASH;
    const rec = (n: number, files: FileEntry[]): SpoolRecord => {
      const base = {
        n,
        prev,
        origin: { bootId: BOOT, seq: n, at: T0 + n },
        severity: 'critical' as const,
        body: { kind: 'event' as const, files, gone: [], daemons: [], mounts: [], notes: [] },
      };
      prev = recordHash(base);
      return { ...base, hash: prev };
    };
    const r1 = await ledger.accept('h', rec(1, [f(WIDE), f('/etc/passwd', { size: 7 })]), { bootId: BOOT, suspect: false }, T0 + 1);
    const r2 = await ledger.accept('h', rec(2, [f('/etc/hosts', { size: 8 })]), { bootId: BOOT, suspect: false }, T0 + 2);
    assert.equal(r1.stored && r2.stored, true);
    assert.equal((await ledger.chain('h')).ackedN, 2);
    assert.deepEqual(await openAlarms(alarms), [`file-added ${WIDE}`, 'file-changed /etc/hosts', 'file-changed /etc/passwd'].sort());
  });

  test('a checker entry at the limit is stored, accepted against the checker database, and known as accepted next run', async () => {
    const { db, alarms } = await setup();
    const store = new CheckerStore(db);
    const results = new CheckerResults(db, store, alarms, createLogger('test', { level: 'silent' }));
    const attrs = Array.from({ length: 32 }, (_, i) => `${'a'.repeat(60)}${i}`);
    const entries = [
      { path: WIDE, change: 'changed' as const, attrs },
      { path: '/etc/motd', change: 'changed' as const, attrs: ['sha256'] },
    ];
    const run = async (at: number) => {
      const id = await store.schedule({ host: 'h', checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: at, deadlineAt: at + 60_000 }, at);
      await store.markSent(id, at);
      await results.apply('h', checkerResult(id, { status: 'findings', exitCode: 4, changed: 2, entries, dbSha256: '1'.repeat(64) }, at), at + 1);
      return id;
    };
    await run(T0);
    assert.equal((await results.accept('h', [WIDE], T0 + 2)).entries, 1);
    const next = await run(T0 + 3);
    assert.deepEqual((await store.entries(next)).map((e) => [e.path === WIDE ? 'WIDE' : e.path, e.accepted]).sort(), [
      ['/etc/motd', false],
      ['WIDE', true],
    ]);
  });
});
