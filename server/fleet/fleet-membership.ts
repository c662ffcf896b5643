import { sharedError } from '../../shared/errors.ts';
import { serverError } from '../errors.ts';
import type { SqlDb } from '../storage/engine.ts';

/** A group name: what `token --group` and `group HOST G` accept. */
export const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Throws `TW_GROUP_NAME` (exit 2) unless `group` is a valid group name. */
export function checkGroupName(group: string): void {
  if (!GROUP_NAME.test(group)) throw serverError('TW_GROUP_NAME', `"${group}" is not a valid group name`);
}

/**
 * Moves a host to a group; returns the group it left. The database is the
 * only place a running `serve` reads the group from (per judgement), so the
 * change applies to the next report or event without a command to `serve`.
 */
export async function setHostGroup(sql: SqlDb, host: string, group: string): Promise<string> {
  checkGroupName(group);
  return sql.tx(async (tx) => {
    const r = await tx.get<{ grp: string }>('SELECT grp FROM hosts WHERE host = ?', [host]);
    if (!r) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
    await tx.run('UPDATE hosts SET grp = ? WHERE host = ?', [group, host]);
    return r.grp;
  });
}

/** Marks a host as a sample of its group (or not). */
export async function setSample(sql: SqlDb, host: string, on: boolean): Promise<void> {
  if ((await sql.run('UPDATE hosts SET sample = ? WHERE host = ?', [on ? 1 : 0, host])) !== 1) {
    throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
  }
}

/** Turns `port-opened` alarms on or off for a group (on by default). */
export async function setPortAlarms(sql: SqlDb, group: string, on: boolean): Promise<void> {
  checkGroupName(group);
  await sql.run('INSERT INTO group_settings (grp, port_alarms) VALUES (?, ?) ON CONFLICT (grp) DO UPDATE SET port_alarms = excluded.port_alarms', [group, on ? 1 : 0]);
}

/** The process names whose listeners a group allows, sorted. */
export async function portAllowList(sql: SqlDb, group: string): Promise<string[]> {
  // Sorted here: PostgreSQL's ORDER BY follows the database's collation, SQLite's the bytes.
  const rows = await sql.all<{ process: string }>('SELECT process FROM group_port_allow WHERE grp = ?', [group]);
  return rows.map((r) => r.process).sort();
}

/**
 * Allows (or stops allowing) listeners owned by processes with these names on hosts of a group. A name is the
 * kernel's `comm` (at most 15 characters), which any process can set for itself: an allowlist trades a little
 * detection for quiet, so keep it to the short-lived listeners that make noise.
 */
export async function setPortAllowed(sql: SqlDb, group: string, names: readonly string[], allow: boolean): Promise<void> {
  checkGroupName(group);
  for (const n of names) {
    if (!/^[\x21-\x7e][\x20-\x7e]{0,14}$/.test(n)) throw sharedError('TW_ARGS', `"${n}" is not a process name (1-15 printable characters, as in /proc/PID/comm)`);
  }
  await sql.tx(async (tx) => {
    for (const n of names) {
      if (allow) await tx.run('INSERT INTO group_port_allow (grp, process) VALUES (?, ?) ON CONFLICT DO NOTHING', [group, n]);
      else await tx.run('DELETE FROM group_port_allow WHERE grp = ? AND process = ?', [group, n]);
    }
  });
}
