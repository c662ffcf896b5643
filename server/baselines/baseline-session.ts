import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { MAX_PORTS, type Report, type RequestReport, type StateEvent } from '../../shared/protocol.ts';
import type { ApplyResult, BaselineStore } from './baseline-store.ts';

/** Most files one report may carry in all its parts (bounds the memory a host can make the server hold). */
export const MAX_REPORT_FILES = 200_000;

/**
 * The baseline side of one agent connection: assembles `report` parts,
 * applies reports and events through the store, and, when a heartbeat's
 * digest differs from the stored state, asks the agent for a full report
 * (at most once per `minRequestGapMs`, never while a report is arriving).
 */
export class BaselineSession {
  private assembling: { reportId: string; next: number; files: Report['files']; daemons: Report['daemons']; mounts: Report['mounts']; ports: Report['ports'] } | null = null;
  private lastRequestAt = -Infinity;
  /** The stored state's digest, recomputed only after this session applied something (accept changes baselines, not state). */
  private digestCache: string | null = null;

  constructor(
    private readonly host: string,
    private readonly store: BaselineStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly send: (m: RequestReport) => void,
    private readonly minRequestGapMs = 5_000,
  ) {}

  /** The executable the agent runs, from `hello`: its file in the first report is judged against this hash. */
  private image: { path: string; sha256: string } | null = null;

  /** `hello` told which executable runs and its hash (of the running image). */
  setRunningImage(path: string | undefined, sha256: string | undefined): void {
    this.image = path && sha256 ? { path, sha256 } : null;
  }

  /** Takes one report part; returns an error line for a protocol violation, else null. */
  onReport(m: Report): string | null {
    if (m.part === 0) this.assembling = { reportId: m.reportId, next: 0, files: [], daemons: [], mounts: [], ports: [] };
    const a = this.assembling;
    if (!a || a.reportId !== m.reportId || a.next !== m.part) {
      this.assembling = null;
      return `report part ${m.part} out of order`;
    }
    a.next++;
    if (a.files.length + m.files.length > MAX_REPORT_FILES) {
      this.assembling = null;
      return `report larger than ${MAX_REPORT_FILES} files`;
    }
    a.files.push(...m.files);
    a.daemons.push(...m.daemons);
    a.mounts.push(...m.mounts);
    a.ports.push(...m.ports);
    if (!m.last) return null;
    this.assembling = null;
    if (a.daemons.length > 64 || a.mounts.length > 256) return 'report lists too many daemons or mounts';
    if (a.ports.length > MAX_PORTS) return `report lists more than ${MAX_PORTS} listening ports`;
    this.digestCache = null;
    const res = this.store.applyReport(this.host, a, this.clock.now(), this.image);
    this.logResult('report', res, { files: a.files.length });
    return null;
  }

  onEvent(m: StateEvent): void {
    for (const n of m.notes) this.log.warn({ kind: n.kind, note: n.message }, 'agent watch note');
    this.digestCache = null;
    const res = this.store.applyEvent(this.host, m, this.clock.now());
    this.logResult('event', res, { files: m.files.length, gone: m.gone.length });
  }

  /** Something else (the spool's records) changed the stored state: recompute the digest next time. */
  stateChanged(): void {
    this.digestCache = null;
  }

  /** Compares the heartbeat's digest with the stored state; asks for a report when they differ. */
  onHeartbeat(digest: string | undefined): void {
    if (!digest || this.assembling) return;
    this.digestCache ??= this.store.digest(this.host);
    if (this.digestCache === digest) return;
    const now = this.clock.now();
    if (now - this.lastRequestAt < this.minRequestGapMs) return;
    this.lastRequestAt = now;
    this.log.info('state digest differs, asking for a full report');
    this.send({ type: 'request-report', reason: 'digest differs' });
  }

  private logResult(what: string, res: ApplyResult, counts: Record<string, number>): void {
    if (res.established) this.log.info(counts, 'baseline established');
    // One line per alarm, written after the transaction committed.
    for (const a of res.opened) this.log.warn({ alarmId: a.id, kind: a.kind, subject: a.subject }, 'alarm opened');
    if (res.resolved) this.log.info({ resolved: res.resolved, via: what }, 'alarms resolved');
  }
}
