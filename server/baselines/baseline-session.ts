import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { Report, RequestReport, StateEvent } from '../../shared/protocol.ts';
import type { ApplyResult, BaselineStore, MeasuredReport } from './baseline-store.ts';
import { goneIn, type ServerEntryKind, valuesIn } from './kinds/kind.ts';
import { SERVER_KINDS } from './kinds/registry.ts';

/**
 * The baseline side of one agent connection: assembles `report` parts,
 * applies reports and events through the store, and, when a heartbeat's
 * digest differs from the stored state, asks the agent for a full report
 * (at most once per `minRequestGapMs`, never while a report is arriving).
 */
export class BaselineSession {
  private assembling: { reportId: string; next: number; values: Map<ServerEntryKind, unknown[]> } | null = null;
  private lastRequestAt = -Infinity;
  /** The stored state's digest, recomputed only after this session applied something (accept changes baselines, not state). */
  private digestCache: string | null = null;
  /** Callers of `requestFresh` waiting for a report begun after their request was sent. */
  private freshWaiters: ((storedAt: number) => void)[] = [];
  /** The waiters the report being assembled will answer (it began after they asked). */
  private assemblingFor: ((storedAt: number) => void)[] = [];

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
  async onReport(m: Report): Promise<string | null> {
    if (m.part === 0) {
      this.assembling = { reportId: m.reportId, next: 0, values: new Map(SERVER_KINDS.map((k) => [k, []])) };
      // A report begun before the request could predate a change the requester must see: it answers no one.
      this.freshWaiters.push(...this.assemblingFor);
      this.assemblingFor = this.freshWaiters;
      this.freshWaiters = [];
    }
    const a = this.assembling;
    if (!a || a.reportId !== m.reportId || a.next !== m.part) {
      this.assembling = null;
      return `report part ${m.part} out of order`;
    }
    a.next++;
    for (const k of SERVER_KINDS) {
      const have = a.values.get(k)!;
      const more = valuesIn(k, m);
      if (have.length + more.length > k.reportLimit.max) {
        this.assembling = null;
        return k.reportLimit.message;
      }
      have.push(...more);
    }
    if (!m.last) return null;
    this.assembling = null;
    this.digestCache = null;
    const report = Object.fromEntries(SERVER_KINDS.map((k) => [k.field, a.values.get(k)!])) as unknown as MeasuredReport;
    const storedAt = this.clock.now();
    const res = await this.store.applyReport(this.host, report, storedAt, this.image);
    this.logResult('report', res, Object.fromEntries(SERVER_KINDS.map((k) => [k.field, a.values.get(k)!.length])));
    const answered = this.assemblingFor;
    this.assemblingFor = [];
    for (const fn of answered) fn(storedAt);
    return null;
  }

  /**
   * Asks the agent for a full report now (for `accept`, which must not bless a state minutes old);
   * `onStored` runs once a report that began arriving after this request is stored, with its time.
   */
  requestFresh(reason: string, onStored: (storedAt: number) => void): void {
    this.freshWaiters.push(onStored);
    this.lastRequestAt = this.clock.now();
    this.send({ type: 'request-report', reason });
  }

  async onEvent(m: StateEvent): Promise<void> {
    for (const n of m.notes) this.log.warn({ kind: n.kind, note: n.message }, 'agent watch note');
    this.digestCache = null;
    const res = await this.store.applyEvent(this.host, m, this.clock.now());
    const counts: Record<string, number> = {};
    for (const k of SERVER_KINDS) {
      counts[k.field] = valuesIn(k, m).length;
      if (k.goneField) counts[k.goneField] = goneIn(k, m).length;
    }
    this.logResult('event', res, counts);
  }

  /** Something else (the spool's records) changed the stored state: recompute the digest next time. */
  stateChanged(): void {
    this.digestCache = null;
  }

  /** Compares the heartbeat's digest with the stored state; asks for a report when they differ. */
  async onHeartbeat(digest: string | undefined): Promise<void> {
    if (!digest || this.assembling) return;
    this.digestCache ??= await this.store.digest(this.host);
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
