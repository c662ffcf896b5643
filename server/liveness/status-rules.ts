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

/** One day, in ms. */
const DAY_MS = 86_400_000;

/** An alarm for a host that stays in a status too long. */
export interface LingerRule {
  /** How long the host may stay in the status (ms, from when it entered it) before the alarm opens. */
  afterMs: number;
  open: { kind: AlarmKind; subject: string };
}

/**
 * The second half of the table: staying in a status too long. A host enrolled but never heard from is a
 * machine nobody finished installing (or a token used by someone else's machine), and nothing else alarms
 * on it: it has no deadline before its first hello. Resolved by that hello ({@link HELLO_RESOLVES}).
 */
export const LINGER_RULES: Readonly<Partial<Record<HostStatus, LingerRule>>> = {
  pending: { afterMs: DAY_MS, open: { kind: 'host-never-seen', subject: 'enrolled a day ago, never connected' } },
};

/**
 * Alarm kinds any accepted hello resolves, whatever the status: the agent is connected again. A restart
 * within the heartbeat interval (systemd's Restart=always after a kill -9) never leaves `up`, so the status
 * rules alone would leave its `agent-disconnected` open for ever.
 */
export const HELLO_RESOLVES: readonly AlarmKind[] = ['agent-disconnected', 'host-never-seen'];

/** Statuses in which an unexpected disconnect opens `agent-disconnected` at once. */
export const DISCONNECT_ALARM_STATUSES: ReadonlySet<HostStatus> = new Set(['up', 'late', 'pending']);
export const DISCONNECT_ALARM = { kind: 'agent-disconnected', subject: 'connection lost without goodbye' } as const;
