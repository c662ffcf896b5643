import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { Queryable } from '../storage/engine.ts';

export const EXE_ALARM_SUBJECT = 'agent executable changed';

/**
 * Judges the hash of its own executable that an agent reports in `hello`.
 * The first hash the server sees after enrollment becomes the accepted one;
 * a different hash later opens `agent-tampered` (the agent was replaced or
 * patched, possibly at another path), until it matches again or is accepted.
 * Runs inside the caller's transaction (pass its `tx` as `q`) or on its own (the database).
 */
export async function judgeAgentExe(q: Queryable, alarms: AlarmStore, host: string, reported: string | undefined, now: number): Promise<'first' | 'same' | 'changed' | 'none'> {
  if (!reported) return 'none';
  const row = await q.get<{ exe_sha256: string | null }>('SELECT exe_sha256 FROM hosts WHERE host = ?', [host]);
  if (!row) return 'none';
  await q.run('UPDATE hosts SET exe_sha256_reported = ?, exe_sha256 = COALESCE(exe_sha256, ?) WHERE host = ?', [reported, reported, host]);
  if (row.exe_sha256 === null) return 'first';
  if (row.exe_sha256 === reported) {
    await alarms.resolve(host, 'agent-tampered', now, EXE_ALARM_SUBJECT, q);
    return 'same';
  }
  await alarms.open(host, 'agent-tampered', EXE_ALARM_SUBJECT, now, { old: { sha256: row.exe_sha256 }, new: { sha256: reported } }, undefined, q);
  return 'changed';
}

/** `accept HOST` takes the last reported executable hash as the accepted one and resolves its alarm. */
export async function acceptAgentExe(q: Queryable, alarms: AlarmStore, host: string, now: number): Promise<boolean> {
  const changed = await q.run('UPDATE hosts SET exe_sha256 = exe_sha256_reported WHERE host = ? AND exe_sha256_reported IS NOT NULL', [host]);
  await alarms.resolve(host, 'agent-tampered', now, EXE_ALARM_SUBJECT, q);
  return changed === 1;
}

/** Enrollment (a reinstalled host) starts over: the next hash seen is the accepted one. */
export const RESET_AGENT_EXE_SQL = 'UPDATE hosts SET exe_sha256 = NULL, exe_sha256_reported = NULL WHERE host = ?';
