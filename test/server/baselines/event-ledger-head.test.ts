import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TAMPER } from '../../../server/baselines/event-ledger.ts';
import type { Queryable } from '../../../server/storage/engine.ts';
import { GENESIS_HASH } from '../../../shared/spool-chain.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { ledgerWithHost } from '../../helpers/event-ledger.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT } from '../../helpers/server-db.ts';

const H = (c: string) => c.repeat(64);

describeEngines('the event ledger on heartbeats', ({ engine, open }) => {
  async function setup() {
    const db = await open();
    const clock = new FakeClock();
    const { alarms, ledger } = await ledgerWithHost(db, clock);
    // What a write would leave: the chain rows with their times (the clock moves between heads) and the alarms;
    // on SQLite also the rows written by the connection so far.
    const writes = async () => {
      const chains = await db.all('SELECT host, acked_n, announced_n, announced_hash, updated_at FROM spool_chains ORDER BY host');
      const n = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM alarms');
      const total = engine === 'sqlite' ? await db.get<{ n: number }>('SELECT total_changes() AS n') : null;
      return JSON.stringify({ chains, alarms: n, total });
    };
    const tampered = async () => (await alarms.list({ open: true, host: 'web1' })).filter((a) => a.kind === 'agent-tampered').length;
    const head = (n: number, hash: string, pending: boolean, q?: Queryable) => {
      clock.advance(1_000);
      return ledger.onHead('web1', { n, hash, pending }, BOOT, clock.now(), q);
    };
    return { db, alarms, ledger, writes, tampered, head };
  }

  test('a heartbeat announcing the head on record writes nothing (the common case: one read per heartbeat)', async () => {
    const s = await setup();
    const before = await s.writes();
    for (let i = 0; i < 5; i++) assert.deepEqual(await s.head(0, GENESIS_HASH, false), []);
    assert.equal(await s.writes(), before, 'an empty, drained spool on a fresh host stores nothing');

    // A new head while records are still in flight is stored once; announced again, it is on record.
    assert.deepEqual(await s.head(3, H('a'), true), []);
    assert.equal((await s.ledger.chain('web1')).announcedN, 3);
    const afterFirst = await s.writes();
    assert.notEqual(afterFirst, before);
    assert.deepEqual(await s.head(3, H('a'), true), []);
    assert.equal(await s.writes(), afterFirst);
    assert.equal(await s.tampered(), 0);
  });

  test('the heads the fast path must not pass still open agent-tampered', async () => {
    // Announced at n with one hash, later at the same n with another: the agent's record n was rewritten.
    let s = await setup();
    await s.head(2, H('a'), true);
    assert.equal((await s.head(2, H('b'), true)).length, 1);
    assert.equal(await s.tampered(), 1);
    assert.equal((await s.alarms.list({ open: true, host: 'web1' }))[0]!.subject, TAMPER.chain);

    // Drained (pending false) at a head the server never received: records announced but never delivered.
    s = await setup();
    await s.head(2, H('a'), true);
    assert.equal((await s.head(2, H('a'), false)).length, 1, 'the same head as announced, but now claimed delivered');
    assert.equal(await s.tampered(), 1);

    // Drained at the number the server holds, with another hash than the one it stored.
    s = await setup();
    assert.equal((await s.head(0, H('c'), false)).length, 1);
    assert.equal(await s.tampered(), 1);
    // The chain continues from that head: announced again, no second alarm.
    assert.deepEqual(await s.head(0, H('c'), false), []);
    assert.equal(await s.tampered(), 1);
  });

  test('a chain state saved by a transaction that rolls back is not remembered', async () => {
    const s = await setup();
    await s.head(2, H('a'), true);
    assert.equal((await s.ledger.chain('web1')).announcedN, 2);
    await assert.rejects(
      s.db.tx(async (tx) => {
        await s.head(5, H('b'), true, tx);
        assert.equal((await s.ledger.chain('web1', tx)).announcedN, 5, 'inside the transaction its own write is seen');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal((await s.ledger.chain('web1')).announcedN, 2, 'after the rollback the committed state again');
    // The heads that come next are judged against what was committed.
    assert.deepEqual(await s.head(2, H('a'), true), []);
    assert.equal(await s.tampered(), 0);
  });
});
