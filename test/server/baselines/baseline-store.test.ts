import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeasuredState } from '../../../agent/monitor/measured-state.ts';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import type { DaemonEntry } from '../../../shared/protocol.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { fileEntry } from '../../helpers/file-entry.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

const f = fileEntry;
const cron = (status: DaemonEntry['status']): DaemonEntry => ({
  name: 'cron',
  exe: '/usr/sbin/cron',
  status,
  pids: status === 'down' ? [] : [7],
  found: status === 'down' ? [] : ['/usr/sbin/cron'],
});
const open = async (alarms: AlarmStore) => (await await alarms.list({ open: true })).map((a) => `${a.kind} ${a.subject}`).sort();

describeEngines('the baseline store', ({ open: openDb }) => {
  async function setup(): Promise<{ db: SqlDb; store: BaselineStore; alarms: AlarmStore }> {
    const db = await openDb();
    await db.run("INSERT INTO hosts (host, enrolled_at, cert_serial) VALUES ('h', ?, 'serial-1')", [T0]);
    const alarms = new AlarmStore(db);
    return { db, store: new BaselineStore(db, alarms, new GroupPeers(db)), alarms };
  }

  test('the first full report becomes the baseline and opens no file alarm', async () => {
    const { store, alarms } = await setup();
    assert.equal(await store.hasBaseline('h'), false);
    const r = await store.applyReport('h', { files: [f('/a'), f('/b')], daemons: [cron('up')], mounts: [] }, T0);
    assert.equal(r.established, true);
    assert.equal(await store.hasBaseline('h'), true);
    assert.deepEqual(await open(alarms), []);
  });

  test('a daemon that is down in the very first report is an alarm already', async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [], daemons: [cron('down')], mounts: [{ path: '/m', expect: 'ro', state: 'rw' }] }, T0);
    assert.deepEqual(await open(alarms), ['daemon-down cron', 'mount-writable /m']);
    await store.applyEvent('h', { files: [], gone: [], daemons: [cron('up')], mounts: [{ path: '/m', expect: 'ro', state: 'ro' }] }, T0 + 1);
    assert.deepEqual(await open(alarms), []);
  });

  test('later reports are judged: changed, added and missing paths open alarms; returning to baseline resolves them', async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/a'), f('/b')], daemons: [], mounts: [] }, T0);
    const r = await store.applyReport('h', { files: [f('/a', { size: 2 }), f('/c')], daemons: [], mounts: [] }, T0 + 1);
    assert.equal(r.opened.length, 3);
    assert.deepEqual(await open(alarms), ['file-added /c', 'file-changed /a', 'file-missing /b']);
    await store.applyReport('h', { files: [f('/a'), f('/b')], daemons: [], mounts: [] }, T0 + 2);
    assert.deepEqual(await open(alarms), []);
  });

  test('events are judged the same way, and a gone path that was never in the baseline is forgotten', async () => {
    const { store, alarms, db } = await setup();
    await store.applyReport('h', { files: [f('/a')], daemons: [], mounts: [] }, T0);
    await store.applyEvent('h', { files: [f('/new')], gone: ['/a'], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), ['file-added /new', 'file-missing /a']);
    await store.applyEvent('h', { files: [], gone: ['/new'], daemons: [], mounts: [] }, T0 + 2);
    assert.deepEqual(await open(alarms), ['file-missing /a']);
    assert.equal((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM measured WHERE key = '/new'"))!.n, 0);
  });

  test('accept takes the current state into the baseline and resolves the alarms of the named paths only', async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/d/x'), f('/d/y'), f('/z')], daemons: [], mounts: [] }, T0);
    await store.applyEvent('h', { files: [f('/d/x', { mode: 0o100777 }), f('/z', { size: 9 })], gone: ['/d/y'], daemons: [], mounts: [] }, T0 + 1);
    assert.equal((await open(alarms)).length, 3);
    const r = await store.accept('h', ['/d'], T0 + 2);
    assert.deepEqual(r.accepted, ['/d/x', '/d/y']);
    assert.deepEqual(await open(alarms), ['file-changed /z']);
    // The accepted state is the new baseline: the same value again opens nothing, the old one does.
    await store.applyEvent('h', { files: [f('/d/x', { mode: 0o100777 })], gone: [], daemons: [], mounts: [] }, T0 + 3);
    assert.deepEqual(await open(alarms), ['file-changed /z']);
    await store.applyEvent('h', { files: [f('/d/y')], gone: [], daemons: [], mounts: [] }, T0 + 4);
    assert.deepEqual(await open(alarms), ['file-added /d/y', 'file-changed /z']);
    assert.deepEqual((await store.accept('h', ['/nowhere'], T0 + 5)).unmatched, ['/nowhere']);
    await store.accept('h', null, T0 + 6);
    assert.deepEqual(await open(alarms), []);
  });

  test("a change to the agent's own file opens agent-tampered beside the file alarm", async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/etc/tw.yml', { class: 'self' })], daemons: [], mounts: [] }, T0);
    await store.applyEvent('h', { files: [f('/etc/tw.yml', { class: 'self', size: 5 })], gone: [], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), ['agent-tampered /etc/tw.yml', 'file-changed /etc/tw.yml']);
    assert.equal((await alarms.list({ open: true })).find((a) => a.kind === 'file-changed')!.severity, 'critical');
    await store.accept('h', ['/etc/tw.yml'], T0 + 2);
    assert.deepEqual(await open(alarms), []);
  });

  test("agent-tampered on one of the agent's own files stays open when the agent stops reporting the path, until accepted", async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [f('/etc/tw.yml', { class: 'self' })], daemons: [], mounts: [] }, T0);
    // The spool deleted and recreated: the agent reports the lost path once, as its own file without a baseline...
    await store.applyEvent('h', { files: [f('/var/lib/tw/spool.jsonl', { class: 'self' })], gone: [], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), ['agent-tampered /var/lib/tw/spool.jsonl', 'file-added /var/lib/tw/spool.jsonl']);
    // ...and its next full report no longer lists it: the file alarm goes, the evidence stays.
    await store.applyReport('h', { files: [f('/etc/tw.yml', { class: 'self' })], daemons: [], mounts: [] }, T0 + 2);
    assert.deepEqual(await open(alarms), ['agent-tampered /var/lib/tw/spool.jsonl']);
    await store.accept('h', null, T0 + 3);
    assert.deepEqual(await open(alarms), []);
  });

  test('the server digest equals the agent digest over the same state', async () => {
    const { store } = await setup();
    const files = [f('/b', { target: undefined }), f('/a', { type: 'symlink', sha256: undefined, target: '/x y' })];
    const daemons = [cron('up')];
    await store.applyReport('h', { files, daemons, mounts: [{ path: '/m', expect: 'ro', state: 'ro' }] }, T0);
    const agent = MeasuredState.fromJSON({ files, daemons, mounts: [{ path: '/m', expect: 'ro', state: 'ro' }] });
    assert.equal(await store.digest('h'), agent.digest());
    await store.applyEvent('h', { files: [], gone: ['/b'], daemons: [], mounts: [] }, T0 + 1);
    agent.set('file', '/b', null);
    assert.equal(await store.digest('h'), agent.digest());
  });

  test('a re-enrolled host (new certificate) starts a new baseline and its old file alarms resolve', async () => {
    const { store, alarms, db } = await setup();
    await store.applyReport('h', { files: [f('/a')], daemons: [], mounts: [] }, T0);
    await store.applyEvent('h', { files: [f('/a', { size: 3 })], gone: [], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), ['file-changed /a']);
    await db.run("UPDATE hosts SET cert_serial = 'serial-2' WHERE host = 'h'");
    assert.equal(await store.hasBaseline('h'), false);
    assert.equal((await store.applyReport('h', { files: [f('/a', { size: 3 })], daemons: [], mounts: [] }, T0 + 2)).established, true);
    assert.deepEqual(await open(alarms), []);
  });

  test('a daemon no longer reported is dropped and its alarm resolved', async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [], daemons: [cron('down')], mounts: [] }, T0);
    assert.deepEqual(await open(alarms), ['daemon-down cron']);
    await store.applyReport('h', { files: [], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), []);
  });

  test("a daemon's binary replaced at the same path and restarted: daemon-exe-mismatch against the first hash seen, until accepted", async () => {
    const { store, alarms } = await setup();
    const at = (sha: string): DaemonEntry => ({ ...cron('up'), sha256: sha.repeat(64) });
    await store.applyReport('h', { files: [], daemons: [at('1')], mounts: [] }, T0);
    assert.deepEqual(await open(alarms), []);
    // The running image and the file on disk agree (status up), but both are another binary.
    await store.applyEvent('h', { files: [], gone: [], daemons: [at('2')], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), ['daemon-exe-mismatch cron']);
    const a = (await alarms.list({ open: true }))[0]!;
    const detail = a.detail as { old: unknown; new: unknown };
    assert.deepEqual([detail.old, detail.new], [{ sha256: '1'.repeat(64) }, { sha256: '2'.repeat(64) }]);
    // A later full report judges it the same way; down and up again with the trojan keeps it open.
    await store.applyReport('h', { files: [], daemons: [at('2')], mounts: [] }, T0 + 2);
    assert.deepEqual(await open(alarms), ['daemon-exe-mismatch cron']);
    // Put back: resolved.
    await store.applyEvent('h', { files: [], gone: [], daemons: [at('1')], mounts: [] }, T0 + 3);
    assert.deepEqual(await open(alarms), []);
    // An upgrade, accepted by the binary's path: the new hash is the baseline from then on.
    await store.applyEvent('h', { files: [], gone: [], daemons: [at('3')], mounts: [] }, T0 + 4);
    assert.deepEqual(await open(alarms), ['daemon-exe-mismatch cron']);
    assert.deepEqual((await store.accept('h', ['/usr/sbin/cron'], T0 + 5)).accepted, ['cron']);
    assert.deepEqual(await open(alarms), []);
    await store.applyEvent('h', { files: [], gone: [], daemons: [at('1')], mounts: [] }, T0 + 6);
    assert.deepEqual(await open(alarms), ['daemon-exe-mismatch cron']);
  });

  test('a daemon first seen down, or from an agent that sends no hash, has no binary baseline to judge against', async () => {
    const { store, alarms } = await setup();
    await store.applyReport('h', { files: [], daemons: [cron('down')], mounts: [] }, T0);
    await store.applyEvent('h', { files: [], gone: [], daemons: [cron('up')], mounts: [] }, T0 + 1);
    await store.applyEvent('h', { files: [], gone: [], daemons: [{ ...cron('up'), sha256: 'e'.repeat(64) }], mounts: [] }, T0 + 2);
    assert.deepEqual(await open(alarms), []);
    await store.applyEvent('h', { files: [], gone: [], daemons: [{ ...cron('up'), sha256: 'f'.repeat(64) }], mounts: [] }, T0 + 3);
    assert.deepEqual(await open(alarms), ['daemon-exe-mismatch cron']);
  });

  test("the agent's executable replaced between its start and its first scan: the baseline is the running image, so agent-tampered at once", async () => {
    const { store, alarms } = await setup();
    const exe = f('/usr/sbin/tripwarden-agent', { class: 'self', sha256: 'b'.repeat(64) });
    // hello said the running image hashes 'a…'; the first report finds 'b…' at that path.
    const r = await store.applyReport('h', { files: [exe, f('/etc/tw.yml', { class: 'self' })], daemons: [], mounts: [] }, T0, { path: exe.path, sha256: 'a'.repeat(64) });
    assert.equal(r.established, true);
    assert.deepEqual(await open(alarms), ['agent-tampered /usr/sbin/tripwarden-agent', 'file-changed /usr/sbin/tripwarden-agent']);
    // Put back (or the agent restarted from the same file and accepted): as any change.
    await store.applyEvent('h', { files: [{ ...exe, sha256: 'a'.repeat(64) }], gone: [], daemons: [], mounts: [] }, T0 + 1);
    assert.deepEqual(await open(alarms), []);
  });

  test('the executable as it started is taken into the first baseline without an alarm', async () => {
    const { store, alarms } = await setup();
    const exe = f('/usr/sbin/tripwarden-agent', { class: 'self', sha256: 'a'.repeat(64) });
    await store.applyReport('h', { files: [exe], daemons: [], mounts: [] }, T0, { path: exe.path, sha256: 'a'.repeat(64) });
    assert.deepEqual(await open(alarms), []);
  });
});
