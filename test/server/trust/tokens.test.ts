import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issueToken, redeemToken } from '../../../server/trust/tokens.ts';
import { serverDb } from '../../helpers/server-db.ts';

test('a token is stored hashed, redeemed once, and names its host and group', () => {
  const s = serverDb();
  const tok = issueToken(s.db, { host: 'web1', group: 'web', ttlMs: 3_600_000, replace: false, now: 1000 });
  assert.match(tok, /^twt_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{32}$/);
  const row = s.db.prepare('SELECT * FROM tokens').get() as Record<string, unknown>;
  assert.ok(!JSON.stringify(row).includes(tok.slice(17)), 'the secret is not stored');
  assert.deepEqual({ ...redeemToken(s.db, tok, 2000), id: 'x' }, { id: 'x', host: 'web1', group: 'web', replace: false });
  assert.throws(() => redeemToken(s.db, tok, 3000), { code: 'TW_TOKEN_USED' });
});

test('expired, unknown, tampered and malformed tokens are refused with distinct codes', () => {
  const s = serverDb();
  const tok = issueToken(s.db, { host: 'a', group: 'g', ttlMs: 1000, replace: false, now: 0 });
  assert.throws(() => redeemToken(s.db, tok, 1000), { code: 'TW_TOKEN_EXPIRED' });
  const t2 = issueToken(s.db, { host: 'b', group: 'g', ttlMs: 1000, replace: false, now: 0 });
  const tampered = t2.slice(0, -1) + (t2.endsWith('A') ? 'B' : 'A');
  assert.throws(() => redeemToken(s.db, tampered, 1), { code: 'TW_TOKEN_UNKNOWN' });
  assert.throws(() => redeemToken(s.db, 'garbage', 1), { code: 'TW_TOKEN_UNKNOWN' });
  assert.equal(redeemToken(s.db, t2, 1).host, 'b', 'a failed attempt does not spend the real token');
});

test('a token for an enrolled host needs replace; bad host names are refused', () => {
  const s = serverDb();
  s.addHost('web1');
  assert.throws(
    () => issueToken(s.db, { host: 'web1', group: 'g', ttlMs: 1, replace: false, now: 0 }),
    (e: Error & { code: string }) => e.code === 'TW_HOST_EXISTS' && /token web1 --replace/.test(e.message),
  );
  assert.ok(issueToken(s.db, { host: 'web1', group: 'g', ttlMs: 1, replace: true, now: 0 }));
  assert.throws(() => issueToken(s.db, { host: '<b>x', group: 'g', ttlMs: 1, replace: false, now: 0 }), { code: 'TW_HOST_NAME' });
});
