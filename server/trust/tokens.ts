import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { serverError } from '../errors.ts';
import type { Queryable } from '../storage/engine.ts';

/** What a redeemed token grants: enrollment of one host into one group. */
export interface TokenGrant {
  id: string;
  host: string;
  group: string;
  replace: boolean;
}

const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;

/** Throws unless `host` is an acceptable host name. */
export function checkHostName(host: string): void {
  if (!HOST_NAME.test(host)) throw serverError('TW_HOST_NAME', `"${host}" is not a valid host name`);
}

/**
 * The host of a rollout token (`token --count`): the host that redeems it is named by its own
 * certificate request. Not a valid host name, so no named token can collide with it.
 */
export const ANY_HOST = '*';

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/**
 * Issues a one-time enrollment token `twt_<id>_<secret>`. Only the secret's
 * SHA-256 is stored; the id finds the row, the secret is compared in constant time.
 * With `host` {@link ANY_HOST} it enrolls one new host under the name it asks for.
 */
export async function issueToken(db: Queryable, o: { host: string; group: string; ttlMs: number; replace: boolean; now: number }): Promise<string> {
  if (o.host === ANY_HOST) {
    if (o.replace) throw serverError('TW_HOST_NAME', 'a token for any host cannot replace one: name the reinstalled host');
  } else {
    checkHostName(o.host);
    const existing = await db.get<{ state: string }>('SELECT state FROM hosts WHERE host = ?', [o.host]);
    if (existing && !o.replace) {
      throw serverError('TW_HOST_EXISTS', `host ${o.host} is already enrolled (a reinstalled host takes \`token ${o.host} --replace\`)`);
    }
  }
  const id = randomBytes(9).toString('base64url');
  const secret = randomBytes(24).toString('base64url');
  await db.run('INSERT INTO tokens (id, secret_sha256, host, grp, replace, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    id,
    digest(secret).toString('hex'),
    o.host,
    o.group,
    o.replace ? 1 : 0,
    o.now,
    o.now + o.ttlMs,
  ]);
  return `twt_${id}_${secret}`;
}

/**
 * Checks a token and marks it used. Call inside the transaction that issues
 * the certificate, so a token is spent exactly when enrollment succeeds.
 * Two instances redeeming one token at once: the conditional UPDATE lets one win (the other's waits for the
 * winner's commit, then changes no row) and the other gets TW_TOKEN_USED.
 */
export async function redeemToken(db: Queryable, token: string, now: number): Promise<TokenGrant> {
  const m = /^twt_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{32})$/.exec(token);
  const row = m ? await db.get('SELECT * FROM tokens WHERE id = ?', [m[1]]) : undefined;
  // The secret is compared in constant time whether or not the id was found.
  const want = row ? Buffer.from(row.secret_sha256 as string, 'hex') : randomBytes(32);
  const ok = timingSafeEqual(digest(m ? m[2]! : token), want);
  if (!row || !ok) throw serverError('TW_TOKEN_UNKNOWN', 'enrollment token not recognised');
  if (row.used_at !== null) throw serverError('TW_TOKEN_USED', 'enrollment token already used');
  if ((row.expires_at as number) <= now) throw serverError('TW_TOKEN_EXPIRED', 'enrollment token expired');
  if ((await db.run('UPDATE tokens SET used_at = ? WHERE id = ? AND used_at IS NULL', [now, row.id])) !== 1) {
    throw serverError('TW_TOKEN_USED', 'enrollment token already used');
  }
  return { id: row.id as string, host: row.host as string, group: row.grp as string, replace: row.replace === 1 };
}
