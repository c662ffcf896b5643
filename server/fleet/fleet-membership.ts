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
