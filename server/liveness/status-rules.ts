import type { AlarmKind, HostStatus } from '../../shared/alarm-kinds.ts';

/** What entering a status does to the host's liveness alarms. */
export interface StatusRule {
  /** Alarm opened on entering the status, with its subject. */
  open?: { kind: AlarmKind; subject: string };
  /** Alarm kinds resolved on entering the status. */
  resolve: AlarmKind[];
}

const LIVENESS: AlarmKind[] = ['agent-missing', 'agent-disconnected', 'agent-stopped'];

/**
 * The table of which status changes open or resolve an alarm (STYLE habit 6).
 * `maintenance` silences: it opens nothing and leaves open alarms as they are.
 */
export const STATUS_RULES: Readonly<Record<HostStatus, StatusRule>> = {
  pending: { resolve: [] },
  up: { resolve: LIVENESS },
  late: { resolve: [] },
  missing: { open: { kind: 'agent-missing', subject: 'no heartbeat before the deadline' }, resolve: [] },
  stopped: { open: { kind: 'agent-stopped', subject: 'agent said goodbye' }, resolve: ['agent-disconnected', 'agent-missing'] },
  maintenance: { resolve: [] },
  revoked: { resolve: LIVENESS },
};

/** Statuses in which an unexpected disconnect opens `agent-disconnected` at once. */
export const DISCONNECT_ALARM_STATUSES: ReadonlySet<HostStatus> = new Set(['up', 'late', 'pending']);
export const DISCONNECT_ALARM = { kind: 'agent-disconnected', subject: 'connection lost without goodbye' } as const;
