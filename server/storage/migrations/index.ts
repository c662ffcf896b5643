/**
 * Numbered schema migrations, one file each under `migrations/`. Migration N
 * takes the database from `user_version` N-1 to N, in its own transaction.
 * Never edit one that has shipped: add the next file and list it here.
 */
import m001 from './001-initial.ts';
import m002 from './002-baselines.ts';
import m003 from './003-delivery-dashboard.ts';
import m004 from './004-agent-exe.ts';
import m005 from './005-spool.ts';
import m006 from './006-fleet-ports.ts';
import m007 from './007-maintenance-index.ts';
import m008 from './008-path-contents.ts';
import m009 from './009-command-result.ts';
import m010 from './010-checker-runs.ts';
import m011 from './011-held-deliveries.ts';
import m012 from './012-instances.ts';
import m013 from './013-port-allow.ts';

export const MIGRATIONS: readonly string[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011, m012, m013];

/** The PostgreSQL text of each migration, in the same order (filled in migration by migration). */
export const PG_MIGRATIONS: readonly string[] = [];
