import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { EventLedger, TAMPER } from '../../../server/baselines/event-ledger.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { GENESIS_HASH } from '../../../shared/spool-chain.ts';
import { BOOT, serverDb } from '../../helpers/server-db.ts';

const H = (c: string) => c.repeat(64);

function setup() {
  const s = serverDb();
  s.addHost('web1');
  const ledger = new EventLedger(s.db, s.alarms, new BaselineStore(s.db, s.alarms, new GroupPeers(s.db)));
  // Rows written by the connection so far: the check for "no write at all".
  const writes = () => (s.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  const tampered = () => s.alarms.list({ open: true, host: 'web1' }).filter((a) => a.kind === 'agent-tampered').length;
  const head = (n: number, hash: string, pending: boolean) => ledger.onHead('web1', { n, hash, pending }, BOOT, s.clock.now());
  return { ...s, ledger, writes, tampered, head };
}

test('a heartbeat announcing the head on record writes nothing (the common case: one read per heartbeat)', () => {
  const s = setup();
  const before = s.writes();
  for (let i = 0; i < 5; i++) assert.deepEqual(s.head(0, GENESIS_HASH, false), []);
  assert.equal(s.writes(), before, 'an empty, drained spool on a fresh host stores nothing');

  // A new head while records are still in flight is stored once; announced again, it is on record.
  assert.deepEqual(s.head(3, H('a'), true), []);
  assert.equal(s.ledger.chain('web1').announcedN, 3);
  const afterFirst = s.writes();
  assert.ok(afterFirst > before);
  assert.deepEqual(s.head(3, H('a'), true), []);
  assert.equal(s.writes(), afterFirst);
  assert.equal(s.tampered(), 0);
});

test('the heads the fast path must not pass still open agent-tampered', () => {
  // Announced at n with one hash, later at the same n with another: the agent's record n was rewritten.
  let s = setup();
  s.head(2, H('a'), true);
  assert.equal(s.head(2, H('b'), true).length, 1);
  assert.equal(s.tampered(), 1);
  assert.equal(s.alarms.list({ open: true, host: 'web1' })[0]!.subject, TAMPER.chain);

  // Drained (pending false) at a head the server never received: records announced but never delivered.
  s = setup();
  s.head(2, H('a'), true);
  assert.equal(s.head(2, H('a'), false).length, 1, 'the same head as announced, but now claimed delivered');
  assert.equal(s.tampered(), 1);

  // Drained at the number the server holds, with another hash than the one it stored.
  s = setup();
  assert.equal(s.head(0, H('c'), false).length, 1);
  assert.equal(s.tampered(), 1);
  // The chain continues from that head: announced again, no second alarm.
  assert.deepEqual(s.head(0, H('c'), false), []);
  assert.equal(s.tampered(), 1);
});

test('a chain state saved by a transaction that rolls back is not remembered', () => {
  const s = setup();
  s.head(2, H('a'), true);
  assert.equal(s.ledger.chain('web1').announcedN, 2);
  assert.throws(
    () =>
      s.db.transaction(() => {
        s.head(5, H('b'), true);
        assert.equal(s.ledger.chain('web1').announcedN, 5, 'inside the transaction its own write is seen');
        throw new Error('disk full');
      })(),
    /disk full/,
  );
  assert.equal(s.ledger.chain('web1').announcedN, 2, 'after the rollback the committed state again');
  // The heads that come next are judged against what was committed.
  assert.deepEqual(s.head(2, H('a'), true), []);
  assert.equal(s.tampered(), 0);
});
