import { sharedError } from '../../shared/errors.ts';
import { serverError } from '../errors.ts';
import type { Db } from '../storage/db.ts';

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
export function setHostGroup(db: Db, host: string, group: string): string {
  checkGroupName(group);
  return db
    .transaction(() => {
      const r = db.prepare('SELECT grp FROM hosts WHERE host = ?').get(host) as { grp: string } | undefined;
      if (!r) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
      db.prepare('UPDATE hosts SET grp = ? WHERE host = ?').run(group, host);
      return r.grp;
    })
    .immediate();
}

/** Marks a host as a sample of its group (or not). */
export function setSample(db: Db, host: string, on: boolean): void {
  if (db.prepare('UPDATE hosts SET sample = ? WHERE host = ?').run(on ? 1 : 0, host).changes !== 1) {
    throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
  }
}

/** Turns `port-opened` alarms on or off for a group (on by default). */
export function setPortAlarms(db: Db, group: string, on: boolean): void {
  checkGroupName(group);
  db.prepare('INSERT INTO group_settings (grp, port_alarms) VALUES (?, ?) ON CONFLICT (grp) DO UPDATE SET port_alarms = excluded.port_alarms').run(group, on ? 1 : 0);
}

/** The process names whose listeners a group allows, sorted. */
export function portAllowList(db: Db, group: string): string[] {
  return db.prepare('SELECT process FROM group_port_allow WHERE grp = ? ORDER BY process').pluck().all(group) as string[];
}

/**
 * Allows (or stops allowing) listeners owned by processes with these names on hosts of a group. A name is the
 * kernel's `comm` (at most 15 characters), which any process can set for itself: an allowlist trades a little
 * detection for quiet, so keep it to the short-lived listeners that make noise.
 */
export function setPortAllowed(db: Db, group: string, names: readonly string[], allow: boolean): void {
  checkGroupName(group);
  for (const n of names) {
    if (!/^[\x21-\x7e][\x20-\x7e]{0,14}$/.test(n)) throw sharedError('TW_ARGS', `"${n}" is not a process name (1-15 printable characters, as in /proc/PID/comm)`);
  }
  const add = db.prepare('INSERT OR IGNORE INTO group_port_allow (grp, process) VALUES (?, ?)');
  const del = db.prepare('DELETE FROM group_port_allow WHERE grp = ? AND process = ?');
  db.transaction(() => {
    for (const n of names) (allow ? add : del).run(group, n);
  }).immediate();
}
