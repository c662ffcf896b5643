import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpoolSession } from '../../../server/baselines/spool-session.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { SpoolAck, SpoolHead } from '../../../shared/protocol.ts';
import { GENESIS_HASH } from '../../../shared/spool-chain.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { ledgerWithHost } from '../../helpers/event-ledger.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { BOOT } from '../../helpers/server-db.ts';

const H = (c: string) => c.repeat(64);

describeEngines('the spool session on heartbeats', ({ open }) => {
  async function setup() {
    const db = await open();
    const clock = new FakeClock();
    const { alarms, ledger } = await ledgerWithHost(db, clock);
    const acks: SpoolAck[] = [];
    const spool = new SpoolSession(
      'web1',
      ledger,
      clock,
      silentLogger(),
      (m) => acks.push(m),
      () => {},
    );
    const tampered = async () => (await alarms.list({ open: true, host: 'web1' })).filter((a) => a.kind === 'agent-tampered').length;
    // Another writer of the host's chain (what a second connection with the same certificate could do).
    const announceElsewhere = (n: number, hash: string) => db.run('UPDATE spool_chains SET announced_n = ?, announced_hash = ? WHERE host = ?', [n, hash, 'web1']);
    // A hello as the server takes it: the ledger checks the head (in the hello's transaction), the session notes it.
    const hello = async (head: SpoolHead) => spool.noteHello(head, await ledger.onHello('web1', head, BOOT, clock.now()));
    return { db, ledger, spool, tampered, announceElsewhere, hello };
  }

  test('a head repeated on one connection is checked once; a clone suspect is checked every time', async () => {
    const s = await setup();
    await s.hello({ n: 0, hash: GENESIS_HASH, pending: false });
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: true }, BOOT);
    assert.equal((await s.ledger.chain('web1')).announcedN, 2);
    await s.announceElsewhere(2, H('b'));
    // The same head again: this connection checked it already, and nothing it sent since moved the chain.
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: true }, BOOT);
    assert.equal(await s.tampered(), 0);
    // With another connection holding the certificate, the chain may move under it: read every time.
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: true }, BOOT, true);
    assert.equal(await s.tampered(), 1, 'the head announced at 2 changed');
  });

  test('a head that changed, and the same head after a hello, are checked again', async () => {
    const s = await setup();
    await s.hello({ n: 0, hash: GENESIS_HASH, pending: false });
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: true }, BOOT);
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: false }, BOOT);
    assert.equal(await s.tampered(), 1, 'claimed delivered but never received: not passed as the head before it');
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: false }, BOOT);
    assert.equal(await s.tampered(), 1);
    await s.hello({ n: 2, hash: H('a'), pending: false });
    await s.announceElsewhere(2, H('c'));
    await s.spool.onHeartbeat({ n: 2, hash: H('a'), pending: false }, BOOT);
    assert.equal((await s.ledger.chain('web1')).announcedHash, H('a'), 'read again after the hello: the changed head is seen and replaced');
  });
});
