import type { HostStatus } from '../shared/alarm-kinds.ts';

/** The stored fields a host's status is derived from (times in ms since the epoch). */
export interface StatusFields {
  state: 'active' | 'stopped' | 'revoked';
  lastSeen: number | null;
  lateAt: number | null;
  dueAt: number | null;
  maintenanceUntil: number | null;
}

/**
 * A host's status as a pure function of its stored fields and now (the
 * healthchecks model): nothing here reads a timer, so every rule is testable
 * with a plain number for `now`.
 */
export function deriveStatus(h: StatusFields, now: number): HostStatus {
  if (h.state === 'revoked') return 'revoked';
  if (h.maintenanceUntil !== null && now < h.maintenanceUntil) return 'maintenance';
  if (h.state === 'stopped') return 'stopped';
  if (h.lastSeen === null) return 'pending';
  if (h.dueAt !== null && now >= h.dueAt) return 'missing';
  if (h.lateAt !== null && now >= h.lateAt) return 'late';
  return 'up';
}

/** Deadlines after a heartbeat at `at`: late after one interval + grace, missing after 2 × interval + grace. */
export function deadlines(at: number, intervalMs: number, graceMs: number): { lateAt: number; dueAt: number } {
  return { lateAt: at + intervalMs + graceMs, dueAt: at + 2 * intervalMs + graceMs };
}
