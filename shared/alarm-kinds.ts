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
  /** A connection of the agent's own boot that acts unlike it (gateway/takeover-watch.ts): warning, critical from two signs. */
  'agent-impersonated': 'critical',
  replay: 'critical',
  'protocol-violation': 'warning',
  /** A host opened more new alarms than its limit: the rest fold into this one (server/alarms/alarm-flood.ts). */
  'alarm-flood': 'warning',
  /** Beyond the original list: a listening socket that is not in the host's baseline. */
  'port-opened': 'warning',
  /** Enrolled (a certificate issued) but no agent has said hello for a day: a host nobody finished installing. */
  'host-never-seen': 'warning',
  /** The host's own checker (AIDE, Tripwire) reported changes; critical when one is a critical file of the baseline. */
  'checker-findings': 'warning',
  /** The checker could not run or ended in error. */
  'checker-failed': 'warning',
  /** No checker result by the end of its window plus `checkerTimeout`. */
  'checker-missed': 'warning',
  /** The agent refused a run: the checker's files differ from the hashes the server's baseline holds. */
  'checker-tampered': 'critical',
  /** A `serve` instance sharing the database stopped renewing its lease (killed, frozen, cut off); raised by a survivor. */
  'server-instance-down': 'critical',
} as const satisfies Record<string, Severity>;

export type Severity = 'critical' | 'warning';
export type AlarmKind = keyof typeof ALARM_KINDS;

/** Host statuses (docs/REFERENCE.md). */
export const HOST_STATUSES = ['pending', 'up', 'late', 'missing', 'stopped', 'maintenance', 'revoked'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];
