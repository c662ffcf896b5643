/** Alarm kinds (docs/REFERENCE.md) with their default severity. */
export const ALARM_KINDS = {
  'agent-missing': 'critical',
  'agent-disconnected': 'warning',
  'agent-stopped': 'critical',
  'file-changed': 'critical',
  'file-added': 'critical',
  'file-missing': 'critical',
  'daemon-down': 'critical',
  'daemon-exe-mismatch': 'critical',
  'mount-writable': 'critical',
  'network-lost': 'warning',
  'agent-tampered': 'critical',
  'identity-clone': 'critical',
  replay: 'critical',
  'protocol-violation': 'warning',
  /** Beyond the original list: a listening socket that is not in the host's baseline. */
  'port-opened': 'warning',
  /** Enrolled (a certificate issued) but no agent has said hello for a day: a host nobody finished installing. */
  'host-never-seen': 'warning',
  /** A `serve` instance sharing the database stopped renewing its lease (killed, frozen, cut off); raised by a survivor. */
  'server-instance-down': 'critical',
} as const satisfies Record<string, Severity>;

export type Severity = 'critical' | 'warning';
export type AlarmKind = keyof typeof ALARM_KINDS;

/** Host statuses (docs/REFERENCE.md). */
export const HOST_STATUSES = ['pending', 'up', 'late', 'missing', 'stopped', 'maintenance', 'revoked'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];
