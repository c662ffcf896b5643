import type { Severity } from '../../../shared/alarm-kinds.ts';

/**
 * One alarm opening, resolution or reminder, as a channel delivers it. Times are ms since the epoch. A
 * reminder (`remind`) says a critical alarm is still open and not acknowledged `at - openedAt` after it opened.
 */
export interface AlarmNotice {
  eventId: number;
  action: 'open' | 'resolve' | 'remind';
  /** When the alarm opened or resolved, or when the reminder was written. */
  at: number;
  alarmId: number;
  host: string;
  group: string | null;
  kind: string;
  severity: Severity;
  subject: string;
  /** The alarm's detail as stored (agent-supplied values included: treat as untrusted text). */
  detail: unknown;
  openedAt: number;
  ackedAt: number | null;
  resolvedAt: number | null;
}

/** What a channel reports after a successful send. */
export interface Sent {
  /** The id the peer gave the message (SMTP Message-ID), or one of our own. */
  messageId: string;
}

/**
 * A delivery failure. `permanent` says whether trying again can help: a
 * refused recipient is permanent, a peer that is down is not (healthchecks'
 * habit: the sender retries only what may succeed later).
 */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/**
 * An alarm channel (mail, syslog). One interface, one file per
 * implementation, one registry (`registry.ts`). A channel only formats and
 * sends; the outbox worker owns claiming, retries and the storm policy.
 */
export interface AlarmChannel {
  /** Stable name, used as the outbox key (`mail`, `syslog`; `mail:GROUP`, `webhook:GROUP` for a group's recipients). */
  readonly name: string;
  /** When set, this channel carries only the alarms of hosts in this group (the main channels carry every alarm). */
  readonly group?: string;
  /**
   * When set, more events than `perMinute` in a minute are sent as one
   * digest per `digestIntervalMs` instead of one message each.
   */
  readonly batching?: { perMinute: number; digestIntervalMs: number };
  /** Sends one notice. Throws {@link DeliveryError} (anything else counts as transient). */
  send(n: AlarmNotice): Promise<Sent>;
  /** Sends many notices as one message (only called when `batching` is set). */
  sendDigest?(ns: AlarmNotice[]): Promise<Sent>;
  /** Releases sockets and pools. */
  close(): Promise<void>;
}
