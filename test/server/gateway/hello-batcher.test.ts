import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { EventLedger } from '../../../server/baselines/event-ledger.ts';
import { CheckerStore } from '../../../server/checkers/checker-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { HelloBatcher } from '../../../server/gateway/hello-batcher.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from '../liveness/liveness-fixture.ts';

/** The store itself, counting the transactions opened on it. */
function countingTx(db: SqlDb): { db: SqlDb; txs: () => number } {
  let n = 0;
  const counted = new Proxy(db, {
    get(target, key) {
      if (key === 'tx')
        return (...a: Parameters<SqlDb['tx']>) => {
          n++;
          return target.tx(...a);
        };
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db: counted, txs: () => n };
}

const boot = (i: number) => `${String(i).padStart(8, '0')}-2222-4333-8444-555555555555`;

describeEngines('the hello batcher', ({ open }) => {
  test('hellos of one tick are recorded in one transaction, each host up; a replay in the group is told apart', async () => {
    const { db, txs } = countingTx(await open());
    const s = livenessFixture(db);
    const n = 40;
    for (let i = 0; i < n; i++) await s.addHost(`h${i}`);
    assert.equal(await s.liveness.hello('h0', helloMsg(5, 10_000, boot(0))), 'ok');
    const before = txs();
    const b = new HelloBatcher({ sql: s.db, liveness: s.liveness, clock: s.clock }, { windowMs: 0, maxBatch: 256 });
    // h0 again with the same boot and a smaller sequence: a replay, which must not fail the others.
    const results = (await Promise.all(Array.from({ length: n }, (_, i) => b.submit(`h${i}`, helloMsg(i === 0 ? 3 : 0, 10_000, boot(i)))))).map((o) => o.result);
    assert.deepEqual(results, ['replay', ...Array.from({ length: n - 1 }, () => 'ok')]);
    assert.equal(b.groups, 1);
    assert.equal(txs() - before, 1, 'one transaction for the whole group');
    const up = await db.all<{ n: number }>(`SELECT COUNT(*) AS n FROM hosts WHERE status = 'up' AND connected = 1 AND last_seq = 0`);
    assert.deepEqual(up, [{ n: n - 1 }]);
    assert.equal((await s.host('h0')).lastSeq, 5, 'the replayed hello changed nothing');
    assert.equal(s.liveness.beatsReceived, n, "the first hello and the group's accepted ones counted");
  });

  test('a hello that fails to store fails alone: the others of its group are recorded and up', async () => {
    const s = livenessFixture(await open());
    for (const h of ['a', 'bad', 'c']) await s.addHost(h);
    const b = new HelloBatcher({ sql: s.db, liveness: s.liveness, clock: s.clock }, { windowMs: 0, maxBatch: 256 });
    // Facts that cannot be stored (a cycle): the statement for this hello throws inside the group's transaction.
    const facts: Record<string, unknown> = {};
    facts.self = facts;
    const got = await Promise.allSettled([
      b.submit('a', helloMsg(0, 10_000, boot(1))),
      b.submit('bad', { ...helloMsg(0, 10_000, boot(2)), facts }),
      b.submit('c', helloMsg(0, 10_000, boot(3))),
    ]);
    assert.deepEqual(
      got.map((r) => (r.status === 'fulfilled' ? r.value.result : (r.reason as Error).name)),
      ['ok', 'TypeError', 'ok'],
    );
    assert.equal(b.groups, 1);
    assert.deepEqual([(await s.host('a')).status, (await s.host('bad')).status, (await s.host('c')).status], ['up', 'pending', 'up']);
    assert.equal((await s.host('bad')).bootId, null, 'nothing of the failed hello stored');
  });

  test("the spool heads, executable hashes and checkers of a group's hellos commit in its one transaction", async () => {
    const { db, txs } = countingTx(await open());
    const s = livenessFixture(db);
    const ledger = new EventLedger(db, s.alarms, new BaselineStore(db, s.alarms, new GroupPeers(db)));
    const checkers = new CheckerStore(db);
    const n = 8;
    for (let i = 0; i < n; i++) await s.addHost(`h${i}`);
    const before = txs();
    const b = new HelloBatcher({ sql: db, liveness: s.liveness, ledger, alarms: s.alarms, checkers, clock: s.clock }, { windowMs: 0, maxBatch: 256 });
    const out = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        b.submit(`h${i}`, {
          ...helloMsg(0, 10_000, boot(i)),
          spool: { n: 3, hash: 'c'.repeat(64), pending: true },
          exeSha256: 'e'.repeat(64),
          checkers: [{ kind: 'aide', files: ['/usr/bin/aide'] }],
        }),
      ),
    );
    assert.deepEqual(
      out.map((o) => [o.result, o.spool, o.exe, o.before?.bootId]),
      Array.from({ length: n }, () => ['ok', 'ok', 'first', null]),
    );
    assert.equal(txs() - before, 1, 'one transaction for the hellos and what they carry');
    assert.deepEqual(await db.all('SELECT COUNT(*) AS n FROM spool_chains WHERE announced_n = 3'), [{ n: n }]);
    assert.deepEqual(await db.all(`SELECT COUNT(*) AS n FROM hosts WHERE exe_sha256 = ?`, ['e'.repeat(64)]), [{ n: n }]);
    assert.deepEqual(await checkers.declared('h5'), [{ kind: 'aide', files: ['/usr/bin/aide'] }]);
  });

  test('a full group commits at once; hellos arriving while one commits gather into the next', async () => {
    const s = livenessFixture(await open());
    for (let i = 0; i < 10; i++) await s.addHost(`h${i}`);
    const b = new HelloBatcher({ sql: s.db, liveness: s.liveness, clock: s.clock }, { windowMs: 60_000, maxBatch: 4 });
    const all = Array.from({ length: 10 }, (_, i) => b.submit(`h${i}`, helloMsg(0, 10_000, boot(i))));
    // 60 s window: only the two full groups commit by themselves; flush sends the last two.
    await b.flush();
    assert.deepEqual(
      (await Promise.all(all)).map((o) => o.result),
      Array.from({ length: 10 }, () => 'ok'),
    );
    assert.equal(b.groups, 3);
  });
});
