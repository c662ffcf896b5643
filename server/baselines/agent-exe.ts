import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { Db } from '../storage/db.ts';

export const EXE_ALARM_SUBJECT = 'agent executable changed';

/**
 * Judges the hash of its own executable that an agent reports in `hello`.
 * The first hash the server sees after enrollment becomes the accepted one;
 * a different hash later opens `agent-tampered` (the agent was replaced or
 * patched, possibly at another path), until it matches again or is accepted.
 * Runs inside the caller's transaction or on its own.
 */
export function judgeAgentExe(db: Db, alarms: AlarmStore, host: string, reported: string | undefined, now: number): 'first' | 'same' | 'changed' | 'none' {
  if (!reported) return 'none';
  const row = db.prepare('SELECT exe_sha256 FROM hosts WHERE host = ?').get(host) as { exe_sha256: string | null } | undefined;
  if (!row) return 'none';
  db.prepare('UPDATE hosts SET exe_sha256_reported = ?, exe_sha256 = COALESCE(exe_sha256, ?) WHERE host = ?').run(reported, reported, host);
  if (row.exe_sha256 === null) return 'first';
  if (row.exe_sha256 === reported) {
    alarms.resolve(host, 'agent-tampered', now, EXE_ALARM_SUBJECT);
    return 'same';
  }
  alarms.open(host, 'agent-tampered', EXE_ALARM_SUBJECT, now, { old: { sha256: row.exe_sha256 }, new: { sha256: reported } });
  return 'changed';
}

/** `accept HOST` takes the last reported executable hash as the accepted one and resolves its alarm. */
export function acceptAgentExe(db: Db, alarms: AlarmStore, host: string, now: number): boolean {
  const r = db.prepare('UPDATE hosts SET exe_sha256 = exe_sha256_reported WHERE host = ? AND exe_sha256_reported IS NOT NULL').run(host);
  alarms.resolve(host, 'agent-tampered', now, EXE_ALARM_SUBJECT);
  return r.changes === 1;
}

/** Enrollment (a reinstalled host) starts over: the next hash seen is the accepted one. */
export const RESET_AGENT_EXE_SQL = 'UPDATE hosts SET exe_sha256 = NULL, exe_sha256_reported = NULL WHERE host = ?';
