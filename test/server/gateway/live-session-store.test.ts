/**
 * The live-session registry across instances, each instance on its own connection to one database (a real
 * SQLite file, or one PostgreSQL database) with real leases on a fake clock: another boot of the host on
 * another instance is a clone, the same boot is the agent that moved (its old instance told to close the
 * socket, once), and an instance whose lease lapsed holds nothing.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { LiveSessionStore } from '../../../server/gateway/live-session-store.ts';
import { InstanceLease, LEASE_TIMEOUT_MS } from '../../../server/liveness/instance-lease.ts';
import { CommandQueue } from '../../../server/storage/command-queue.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { describeEngines, openTestDb, type TestDb } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const noWait = async () => {};

function instance(db: SqlDb, name: string, clock: FakeClock) {
  const commands = new CommandQueue(db);
  const lease = new InstanceLease(db, new AlarmStore(db), { name, clock, spare: async () => {} });
  return { db, commands, lease, live: new LiveSessionStore(db, name, clock, commands) };
}
type Instance = ReturnType<typeof instance>;

const session = (connId: string, bootId: string) => ({ connId, host: 'h1', bootId, remote: `127.0.0.1:${connId.length}` });
const closeCommands = (i: Instance) => i.db.all<{ host: string; arg: string }>(`SELECT host, arg FROM commands WHERE action = 'close-session' ORDER BY id`);

describeEngines('the live-session registry across instances', ({ engine }) => {
  const stores: TestDb[] = [];
  const extra: SqlDb[] = [];
  after(async () => {
    for (const db of extra) await db.close();
    for (const t of stores) await t.cleanup();
  });

  async function cluster(): Promise<{ clock: FakeClock; alpha: Instance; bravo: Instance }> {
    const t = await openTestDb(engine);
    stores.push(t);
    const clock = new FakeClock();
    const second = openSqlDb(t.target, PG_MIGRATIONS);
    extra.push(second);
    const alpha = instance(t.db, 'alpha', clock);
    const bravo = instance(second, 'bravo', clock);
    await alpha.lease.acquire(noWait);
    await bravo.lease.acquire(noWait);
    return { clock, alpha, bravo };
  }

  test('another boot of the host live on another instance is a clone; neither side calls the other the same agent', async () => {
    const { alpha, bravo } = await cluster();
    assert.deepEqual(await alpha.live.hello(session('a-1', 'boot-real')), { clones: [], moved: [] });
    const r = await bravo.live.hello(session('b-1', 'boot-copy'));
    assert.deepEqual(
      r.clones.map((x) => [x.instance, x.bootId, x.connId]),
      [['alpha', 'boot-real', 'a-1']],
    );
    assert.deepEqual(r.moved, []);
    assert.deepEqual(await closeCommands(alpha), [], 'a clone closes nothing elsewhere');
    // Both rows stay: the real agent's next hello on alpha finds the copy too.
    assert.deepEqual(
      (await alpha.live.elsewhere('h1')).map((x) => x.connId),
      ['b-1'],
    );
  });

  test('the same boot on another instance is the agent that moved: its old row dropped and one close-session queued for it', async () => {
    const { alpha, bravo } = await cluster();
    await alpha.live.hello(session('a-1', 'boot-1'));
    const r = await bravo.live.hello(session('b-1', 'boot-1'));
    assert.deepEqual(r.clones, []);
    assert.deepEqual(
      r.moved.map((x) => x.connId),
      ['a-1'],
    );
    assert.deepEqual(await closeCommands(bravo), [], 'nothing closed before the hello is accepted');
    await bravo.live.supersede('h1', r.moved);
    assert.deepEqual(await closeCommands(bravo), [{ host: 'h1', arg: 'a-1' }]);
    assert.deepEqual(await bravo.live.elsewhere('h1'), [], 'the old row is gone');
    // The agent's later restart (a new boot) on either instance finds no stale row of the old boot.
    assert.deepEqual(
      (await alpha.live.hello(session('a-2', 'boot-2'))).clones.map((x) => x.connId),
      ['b-1'],
      'only the live connection of the old boot',
    );
  });

  test('two hellos of one boot racing on two instances against one old row: one close-session', async () => {
    const { alpha, bravo } = await cluster();
    await alpha.live.open(session('a-old', 'boot-1'));
    const third = instance(bravo.db, 'bravo', new FakeClock());
    const move = async (x: Instance, id: string) => x.live.supersede('h1', (await x.live.hello(session(id, 'boot-1'))).moved);
    await Promise.all([move(bravo, 'b-1'), move(third, 'b-2')]);
    assert.deepEqual(
      (await closeCommands(alpha)).map((c) => c.arg),
      ['a-old'],
    );
  });

  test('two hellos of two boots at once on two instances: at least one finds the other', async () => {
    const { alpha, bravo } = await cluster();
    const [a, b] = await Promise.all([alpha.live.hello(session('a-1', 'boot-a')), bravo.live.hello(session('b-1', 'boot-b'))]);
    assert.ok(a.clones.length + b.clones.length >= 1, JSON.stringify({ a, b }));
  });

  test('an instance whose lease lapsed holds no live session; declared down or restarted, its rows are deleted', async () => {
    const { clock, alpha, bravo } = await cluster();
    await alpha.live.hello(session('a-1', 'boot-1'));
    clock.advance(LEASE_TIMEOUT_MS + 1);
    await bravo.lease.renew(clock.now(), 0);
    assert.deepEqual(await bravo.live.elsewhere('h1'), [], 'alpha stopped renewing: its rows do not count');
    assert.deepEqual((await bravo.live.hello(session('b-1', 'boot-2'))).clones, [], 'no clone from a dead instance');
    assert.deepEqual(await bravo.lease.watch(clock.now()), ['alpha']);
    assert.equal(await bravo.live.dropInstance('alpha'), 1);
    // alpha back: its lease live again, its predecessor's rows already gone.
    await alpha.lease.renew(clock.now(), 0);
    assert.deepEqual(await alpha.live.elsewhere('h1').then((r) => r.map((x) => x.connId)), ['b-1']);
    assert.deepEqual(await bravo.live.elsewhere('h1'), []);
  });

  test('prune deletes the rows of connections this instance no longer holds, and only its own', async () => {
    const { alpha, bravo } = await cluster();
    await alpha.live.open(session('a-1', 'boot-1'));
    await alpha.live.open({ ...session('a-2', 'boot-1'), host: 'h2' });
    await bravo.live.open({ ...session('b-1', 'boot-3'), host: 'h3' });
    assert.equal(await alpha.live.prune((id) => id === 'a-2'), 1);
    const rows = await alpha.db.all<{ connId: string }>('SELECT conn_id AS "connId" FROM live_sessions ORDER BY conn_id');
    assert.deepEqual(
      rows.map((r) => r.connId),
      ['a-2', 'b-1'],
    );
    assert.equal(await alpha.live.drop('a-2'), true);
    assert.equal(await alpha.live.drop('a-2'), false);
  });

  test("grouped (a reconnect storm): each hello answered with its own host's sessions, clones still found", async () => {
    const { clock, alpha, bravo } = await cluster();
    await alpha.live.hello(session('a-1', 'boot-real'));
    const grouped = new LiveSessionStore(bravo.db, 'bravo', clock, bravo.commands, undefined, { windowMs: 5, maxBatch: 256 });
    const hosts = Array.from({ length: 30 }, (_, i) => `g${i}`);
    const [copy, ...others] = await Promise.all([
      grouped.hello(session('b-copy', 'boot-copy')),
      ...hosts.map((h, i) => grouped.hello({ ...session(`b-${i}`, 'boot-1'), host: h })),
    ]);
    assert.deepEqual(
      copy!.clones.map((x) => x.connId),
      ['a-1'],
      "the copy's host has alpha's live row",
    );
    assert.ok(
      others.every((r) => r.clones.length === 0 && r.moved.length === 0),
      'every other host has nothing elsewhere',
    );
    assert.deepEqual(
      (await alpha.live.elsewhere('g7')).map((x) => x.connId),
      ['b-7'],
      'each registration was written',
    );
    assert.deepEqual(
      (await alpha.live.elsewhere('h1')).map((x) => x.connId),
      ['b-copy'],
    );
  });
});
