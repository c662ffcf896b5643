import type { HostStatus } from '../../shared/alarm-kinds.ts';

/** The stored fields a host's status is derived from (times in ms since the epoch). */
export interface StatusFields {
  state: 'active' | 'stopped' | 'revoked';
  lastSeen: number | null;
  lateAt: number | null;
  dueAt: number | null;
  maintenanceUntil: number | null;
}

/**
 * A span of time in which the server itself could not read agents' frames in time (its event loop
 * stalled, or a storm of TLS handshakes held it), or could not store them (`outage`: the database was
 * unavailable to it): [from, to) in ms since the epoch.
 */
export interface StallSpan {
  from: number;
  to: number;
  /**
   * The database could not be written: held in full, not capped by {@link HOLD_MAX_MS}. An outage ends when
   * the store is back (nothing can be judged before), and an agent that kept beating through it had every
   * heartbeat refused.
   */
  outage?: boolean;
}

/**
 * The longest a host's deadlines are held for the server's own stalls (ms). Under overload that never
 * ends, a genuinely silent agent is still declared missing at most this long after its deadline.
 */
export const HOLD_MAX_MS = 60_000;

/**
 * How long a host's deadlines are extended because the server could not read frames: the time in
 * `stalls` between the host's last heartbeat and now, capped by {@link HOLD_MAX_MS}, plus the time in
 * database outages (uncapped). A span before the last heartbeat gives nothing (that heartbeat was read and
 * stored after it). `stalls` ordered or not; an outage still open has `to` = Infinity.
 */
export function stallHold(lastSeen: number | null, now: number, stalls: readonly StallSpan[]): number {
  if (lastSeen === null || stalls.length === 0) return 0;
  let held = 0;
  let outage = 0;
  for (const s of stalls) {
    const from = Math.max(s.from, lastSeen);
    const to = Math.min(s.to, now);
    if (to <= from) continue;
    if (s.outage) outage += to - from;
    else held += to - from;
  }
  return Math.min(held, HOLD_MAX_MS) + outage;
}

/**
 * A host's status as a pure function of its stored fields, now, and the
 * server's own stalls (the healthchecks model): nothing here reads a timer,
 * so every rule is testable with a plain number for `now`. The late and
 * missing deadlines move by {@link stallHold}: time in which the server did
 * not read frames is not the agent's silence.
 */
export function deriveStatus(h: StatusFields, now: number, stalls: readonly StallSpan[] = []): HostStatus {
  if (h.state === 'revoked') return 'revoked';
  if (h.maintenanceUntil !== null && now < h.maintenanceUntil) return 'maintenance';
  if (h.state === 'stopped') return 'stopped';
  if (h.lastSeen === null) return 'pending';
  const hold = stallHold(h.lastSeen, now, stalls);
  if (h.dueAt !== null && now >= h.dueAt + hold) return 'missing';
  if (h.lateAt !== null && now >= h.lateAt + hold) return 'late';
  return 'up';
}

/** Deadlines after a heartbeat at `at`: late after one interval + grace, missing after 2 × interval + grace. */
export function deadlines(at: number, intervalMs: number, graceMs: number): { lateAt: number; dueAt: number } {
  return { lateAt: at + intervalMs + graceMs, dueAt: at + 2 * intervalMs + graceMs };
}
