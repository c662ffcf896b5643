import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { issueToken, redeemToken } from '../../../server/trust/tokens.ts';
import { describeEngines } from '../../helpers/engines.ts';

const addHost = (db: SqlDb, host: string) => db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES (?, 'default', 'pending', 'AA', 0)`, [host]);

describeEngines('enrollment tokens', ({ open }) => {
  test('a token is stored hashed, redeemed once, and names its host and group', async () => {
    const db = await open();
    const tok = await issueToken(db, { host: 'web1', group: 'web', ttlMs: 3_600_000, replace: false, now: 1000 });
    assert.match(tok, /^twt_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{32}$/);
    const row = await db.get('SELECT * FROM tokens');
    assert.ok(!JSON.stringify(row).includes(tok.slice(17)), 'the secret is not stored');
    assert.deepEqual({ ...(await redeemToken(db, tok, 2000)), id: 'x' }, { id: 'x', host: 'web1', group: 'web', replace: false });
    await assert.rejects(redeemToken(db, tok, 3000), { code: 'TW_TOKEN_USED' });
  });

  test('expired, unknown, tampered and malformed tokens are refused with distinct codes', async () => {
    const db = await open();
    const tok = await issueToken(db, { host: 'a', group: 'g', ttlMs: 1000, replace: false, now: 0 });
    await assert.rejects(redeemToken(db, tok, 1000), { code: 'TW_TOKEN_EXPIRED' });
    const t2 = await issueToken(db, { host: 'b', group: 'g', ttlMs: 1000, replace: false, now: 0 });
    const tampered = t2.slice(0, -1) + (t2.endsWith('A') ? 'B' : 'A');
    await assert.rejects(redeemToken(db, tampered, 1), { code: 'TW_TOKEN_UNKNOWN' });
    await assert.rejects(redeemToken(db, 'garbage', 1), { code: 'TW_TOKEN_UNKNOWN' });
    assert.equal((await redeemToken(db, t2, 1)).host, 'b', 'a failed attempt does not spend the real token');
  });

  test('a token for an enrolled host needs replace; bad host names are refused', async () => {
    const db = await open();
    await addHost(db, 'web1');
    await assert.rejects(
      issueToken(db, { host: 'web1', group: 'g', ttlMs: 1, replace: false, now: 0 }),
      (e: Error & { code: string }) => e.code === 'TW_HOST_EXISTS' && /token web1 --replace/.test(e.message),
    );
    assert.ok(await issueToken(db, { host: 'web1', group: 'g', ttlMs: 1, replace: true, now: 0 }));
    await assert.rejects(issueToken(db, { host: '<b>x', group: 'g', ttlMs: 1, replace: false, now: 0 }), { code: 'TW_HOST_NAME' });
  });
});
