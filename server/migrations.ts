/**
 * Numbered schema migrations, one file each under `migrations/`. Migration N
 * takes the database from `user_version` N-1 to N, in its own transaction.
 * Never edit one that has shipped: add the next file and list it here.
 */
import m001 from './migrations/001-initial.ts';
import m003 from './migrations/003-delivery-dashboard.ts';

/**
 * 002 (baselines) is another engineer's: until it lands, its slot is an empty
 * migration so 003 keeps its number. Replace the placeholder with the real file.
 */
const m002Placeholder = '';

export const MIGRATIONS: readonly string[] = [m001, m002Placeholder, m003];
