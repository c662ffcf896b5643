import type { Severity } from '../../shared/alarm-kinds.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';

/** The subject of `agent-impersonated`: one open alarm per host, its evidence growing. */
export const IMPERSONATION_SUBJECT = 'another connection took over the agent session';

/**
 * What makes a connection of an agent's own boot look like someone else's process holding its key:
 * - `live-session-superseded`: it replaced a connection of the same boot that was still heard from within
 *   its interval and grace (a real reconnect follows a connection that closed or went silent), the server
 *   not having stalled meanwhile;
 * - `sequence-jump`: its sequence number is further past the boot's last one than {@link allowedSeqGap}
 *   allows for the time since the server last heard the boot;
 * - `no-exe-hash`: its hello carries no `exeSha256` where the host's earlier hellos did;
 * - `no-state-digest`: a boot whose heartbeats carried the state digest now sends {@link DIGEST_MISSES}
 *   heartbeats without one;
 * - `report-unanswered`: asked for a full report (or owed the one the agent sends on each welcome), none
 *   began within {@link reportWaitMs}.
 */
export type TakeoverEvidence = 'live-session-superseded' | 'sequence-jump' | 'no-exe-hash' | 'no-state-digest' | 'report-unanswered';

/** Sequence numbers an agent may spend beyond its heartbeats without being heard: report parts, events, spooled records. */
export const SEQ_SLACK = 100_000;
/** ...plus this many per second since the server last heard the boot (far above any agent's message rate). */
export const SEQ_PER_SECOND = 1_000;
/** Heartbeats without a digest, from a boot that sent digests, before that is evidence (one may race a rescan). */
export const DIGEST_MISSES = 2;
/** The shortest wait for a report the session owes, in ms. */
export const REPORT_WAIT_MIN_MS = 10_000;

/** The largest sequence step a real agent makes after `elapsedMs` unheard. */
export function allowedSeqGap(elapsedMs: number): number {
  return SEQ_SLACK + Math.ceil((Math.max(0, elapsedMs) / 1000) * SEQ_PER_SECOND);
}

/** How long a session may take to begin a report it owes, for an agent of this interval (ms). */
export function reportWaitMs(intervalMs: number): number {
  return Math.max(REPORT_WAIT_MIN_MS, 3 * intervalMs);
}

/**
 * Whether a connection superseded at `at` by another of its boot was still live: heard within its interval
 * and grace of `at` (a real reconnect follows a connection that closed or went silent), the server that
 * heard it not having stalled meanwhile (then its last frames were read late). Times in ms.
 */
export function supersededWhileHeard(c: { at: number; lastFrameAt: number; intervalMs: number; graceMs: number; serverStalled: boolean }): boolean {
  return !c.serverStalled && c.at - c.lastFrameAt <= c.intervalMs + c.graceMs;
}

/** The detail of `agent-impersonated`: the signs' names, and each sign's own detail under its name. */
type ImpersonationDetail = { evidence: TakeoverEvidence[] } & Record<string, unknown>;

/**
 * The open `agent-impersonated` alarm's detail merged with the signs one watch found (several instances
 * each judge what they hold): the union of `evidence`, the stored signs first, each sign's detail the newest,
 * and the severity from their count, warning for one and critical from two.
 */
export function mergeSigns(stored: unknown, next: ImpersonationDetail): { detail: ImpersonationDetail; severity: Severity } {
  const old = stored && typeof stored === 'object' && Array.isArray((stored as ImpersonationDetail).evidence) ? (stored as ImpersonationDetail) : { evidence: [] };
  const evidence = [...new Set([...old.evidence, ...next.evidence])];
  return { detail: { ...old, ...next, evidence }, severity: signSeverity(evidence.length) };
}

/** Warning for one sign, critical once two agree. */
function signSeverity(signs: number): Severity {
  return signs >= 2 ? 'critical' : 'warning';
}

/** What the session knew when an accepted `hello` arrived. Times in ms since the epoch. */
export interface HelloContext {
  now: number;
  bootId: string;
  seq: number;
  remote: string;
  /** The host's stored boot before this hello; its last sequence and when it was last heard. */
  stored: { bootId: string | null; lastSeq: number | null; lastSeen: number | null; intervalMs: number };
  /** Other connections of this boot this hello supersedes, with when each was last heard. */
  superseded: { remote: string; lastFrameAt: number | null }[];
  graceMs: number;
  /**
   * Whether the server itself stalled within the last interval and grace: then the old connection's frames
   * were read late, and a reconnect behind them looks as if it replaced a live one.
   */
  serverStalled: boolean;
  /** Whether the host's earlier hellos carried `exeSha256`, and whether this one does. */
  exeExpected: boolean;
  exeSent: boolean;
  /** Whether heartbeats of this boot carried the state digest on an earlier connection. */
  digestsSeen: boolean;
}

/**
 * Watches one connection for the signs of a takeover: a process that holds the agent's key, certificate
 * and boot id (all readable by root on the host) and connects as the agent while the real one is frozen,
 * then killed. Cryptographically the two are the same; what differs is what they do. Each sign is named in
 * `agent-impersonated`, warning for one and critical once two agree; later signs are added to the open
 * alarm. A restart (a new boot id, sequence from 0) and a reconnect after a network blip (the old
 * connection gone or silent, the sequence grown modestly, exe hash, digest and report as always) show none.
 */
export class TakeoverWatch {
  private readonly evidence = new Map<TakeoverEvidence, unknown>();
  private alarmId: number | null = null;
  private readonly base: Record<string, unknown> = {};
  /** Since when this connection owes a report; null once one began (or none is owed). */
  private reportOwedSince: number | null = null;
  private reportWait = REPORT_WAIT_MIN_MS;
  /** Heartbeats without a digest in a row; null once one carried it or none is expected. */
  private digestMisses: number | null = null;

  constructor(
    private readonly host: string,
    private readonly alarms: AlarmStore,
    private readonly log: Logger,
    /** Sends `request-report` (the session's baseline asks for a fresh one). */
    private readonly askReport: (reason: string) => void,
  ) {}

  /** Judges an accepted hello; opens the alarm when it shows any sign. Returns the signs. */
  async onHello(c: HelloContext): Promise<TakeoverEvidence[]> {
    const sameBoot = c.stored.bootId === c.bootId;
    Object.assign(this.base, { bootId: c.bootId, remote: c.remote });
    const live = c.superseded.filter(
      (s) =>
        s.lastFrameAt !== null &&
        supersededWhileHeard({ at: c.now, lastFrameAt: s.lastFrameAt, intervalMs: c.stored.intervalMs, graceMs: c.graceMs, serverStalled: c.serverStalled }),
    );
    if (live.length) {
      this.evidence.set('live-session-superseded', { remotes: live.map((s) => s.remote), heardMsAgo: live.map((s) => c.now - (s.lastFrameAt ?? c.now)) });
    }
    if (sameBoot && c.stored.lastSeq !== null && c.stored.lastSeen !== null) {
      const allowed = allowedSeqGap(c.now - c.stored.lastSeen);
      if (c.seq - c.stored.lastSeq > allowed) this.evidence.set('sequence-jump', { from: c.stored.lastSeq, to: c.seq, allowed });
    }
    if (c.exeExpected && !c.exeSent) this.evidence.set('no-exe-hash', true);
    // What only an agent whose checks run sends: known for this boot from its earlier connection.
    if (sameBoot && c.digestsSeen) {
      this.digestMisses = 0;
      this.reportOwedSince = c.now;
      this.reportWait = reportWaitMs(c.stored.intervalMs);
      if (this.evidence.size) this.askReport('identity check');
    }
    if (this.evidence.size) await this.raise(c.now);
    return [...this.evidence.keys()];
  }

  /** A heartbeat on this connection (after hello): checks the digest and the report it owes. */
  async onHeartbeat(digest: string | undefined, now: number): Promise<void> {
    let grew = false;
    if (this.digestMisses !== null) {
      if (digest) this.digestMisses = null;
      else if (++this.digestMisses >= DIGEST_MISSES && !this.evidence.has('no-state-digest')) {
        this.evidence.set('no-state-digest', { heartbeats: this.digestMisses });
        grew = true;
      }
    }
    if (this.reportOwedSince !== null && now - this.reportOwedSince >= this.reportWait) {
      this.evidence.set('report-unanswered', { waitedMs: now - this.reportOwedSince });
      this.reportOwedSince = null;
      grew = true;
    }
    if (!grew) return;
    // The first sign after a quiet hello: ask for the report explicitly, so "unanswered" means asked.
    if (this.evidence.size === 1 && this.reportOwedSince !== null) this.askReport('identity check');
    await this.raise(now);
  }

  /**
   * This connection was superseded by a hello of its boot on another instance while it was still live (the
   * session judged it with {@link supersededWhileHeard} when it applied the `close-session` command queued at
   * `commandAt`): `live-session-superseded`, naming the instance and address that took its place when known.
   */
  async onSupersededElsewhere(
    now: number,
    s: { bootId: string; remote: string; heardMsAgo: number; commandAt: number; by: { instance: string; remote: string } | null },
  ): Promise<void> {
    this.evidence.set('live-session-superseded', { remotes: [s.remote], heardMsAgo: [s.heardMsAgo], ...(s.by ? { instance: s.by.instance } : {}) });
    // The alarm's `remote` names the connection suspected, here the newcomer on the other instance.
    Object.assign(this.base, { bootId: s.bootId, ...(s.by ? { remote: s.by.remote } : {}) });
    await this.raise(now);
  }

  /** A report began on this connection: the one it owed. */
  onReport(): void {
    this.reportOwedSince = null;
  }

  /** Opens the alarm, or merges these signs into the open one (which another instance may have raised). */
  private async raise(now: number): Promise<void> {
    const severity = signSeverity(this.evidence.size);
    const detail: ImpersonationDetail = { evidence: [...this.evidence.keys()], ...this.base, ...Object.fromEntries(this.evidence) };
    let merged = detail.evidence;
    this.alarmId = await this.alarms.raise(this.host, 'agent-impersonated', IMPERSONATION_SUBJECT, now, detail, severity, undefined, (stored) => {
      const m = mergeSigns(stored, detail);
      merged = m.detail.evidence;
      return m;
    });
    this.log.warn({ evidence: merged, severity: signSeverity(merged.length), alarmId: this.alarmId }, 'agent session looks taken over');
  }
}
