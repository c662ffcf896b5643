/**
 * Numbered schema migrations, one file each under `migrations/`. Migration N
 * takes the database from `user_version` N-1 to N, in its own transaction.
 * Never edit one that has shipped: add the next file and list it here. Each file exports the SQLite text
 * (default) and `postgres`, the same step in PostgreSQL 15: one list, so neither engine can miss a step.
 */
import m001, { postgres as p001 } from './001-initial.ts';
import m002, { postgres as p002 } from './002-baselines.ts';
import m003, { postgres as p003 } from './003-delivery-dashboard.ts';
import m004, { postgres as p004 } from './004-agent-exe.ts';
import m005, { postgres as p005 } from './005-spool.ts';
import m006, { postgres as p006 } from './006-fleet-ports.ts';
import m007, { postgres as p007 } from './007-maintenance-index.ts';
import m008, { postgres as p008 } from './008-path-contents.ts';
import m009, { postgres as p009 } from './009-command-result.ts';
import m010, { postgres as p010 } from './010-checker-runs.ts';
import m011, { postgres as p011 } from './011-held-deliveries.ts';
import m012, { postgres as p012 } from './012-instances.ts';
import m013, { postgres as p013 } from './013-port-allow.ts';
import m014, { postgres as p014 } from './014-claimed-by.ts';
import m015, { postgres as p015 } from './015-alarm-reminders.ts';
import m016, { postgres as p016 } from './016-live-sessions.ts';
import m017, { postgres as p017 } from './017-hashed-long-keys.ts';
import m018, { postgres as p018 } from './018-digest-boots.ts';

export const MIGRATIONS: readonly string[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011, m012, m013, m014, m015, m016, m017, m018];

/** The same migrations in PostgreSQL 15, in the same order: entry N-1 takes a PostgreSQL database from N-1 to N. */
export const PG_MIGRATIONS: readonly string[] = [p001, p002, p003, p004, p005, p006, p007, p008, p009, p010, p011, p012, p013, p014, p015, p016, p017, p018];
