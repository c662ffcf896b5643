import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import type { HeartbeatRollup } from './heartbeat-rollup.ts';
import type { HelloRow, HostStore } from './host-store.ts';
import { LEASE_TIMEOUT_MS, LIVE_INSTANCES_SQL } from './instance-lease.ts';
import { deadlines, deriveStatus, HOLD_MAX_MS, type StallSpan, stallHold } from './status.ts';
import { DISCONNECT_ALARM, DISCONNECT_ALARM_STATUSES, HELLO_RESOLVES, LINGER_RULES, STATUS_RULES } from './status-rules.ts';

export interface LivenessConfig {
  graceMs: number;
  maxIntervalMs: number;
  /** Where the sweep reports a host it could not process (default: nowhere). */
  log?: Logger;
  /**
   * This `serve` instance's name among those sharing the database (server.yml `instance`): a hello marks
   * the host as held by it. Absent (a CLI command): nothing is marked.
   */
  instance?: string;
  /** A lease older than this has lapsed (instance-lease.ts LEASE_TIMEOUT_MS). */
  leaseTimeoutMs?: number;
}

/** The stores {@link Liveness} writes through. */
export interface LivenessStores {
  alarms: AlarmStore;
  hosts: HostStore;
  /** Where each accepted heartbeat and hello is counted for the dashboard's bar. */
  rollup: HeartbeatRollup;
}

/** What {@link Liveness.hello} stores of a `hello`. */
export interface HelloFields {
  bootId: string;
  seq: number;
  interval: number;
  agentVersion: string;
  facts: unknown;
}

/** `moved`: a frame of this boot read on a connection the agent left for another instance (stale, not a replay). */
export type HeartbeatResult = 'ok' | 'replay' | 'unknown-boot' | 'moved';

interface Overdue {
  host: string;
  status: string;
  lastSeen: number | null;
  lateAt: number;
  dueAt: number;
}

/** How often the sweep looks for hosts in a status longer than LINGER_RULES allow (ms). */
export const LINGER_CHECK_MS = 60_000;

/** After a restart, hosts not back yet are spared while some agent reconnected within this long (ms)... */
export const RECOVERY_QUIET_MS = 30_000;
/** ...and for at most this long after the start (ms). */
export const RECOVERY_MAX_MS = 600_000;

/**
 * Host liveness as data: each heartbeat moves the host's stored deadlines;
 * {@link sweep} finds the hosts whose deadline has passed and writes the
 * status change together with the alarm it opens, in one transaction.
 * No timer per host.
 */
export class Liveness {
  private readonly alarms: AlarmStore;
  private readonly hosts: HostStore;
  private readonly rollup: HeartbeatRollup;
  private lastLingerCheck = -Infinity;
  /** Set by {@link startGrace} and {@link storeBack}; hosts not seen since then are still reconnecting while {@link recovering}. */
  private startedAt: number | null = null;
  private lastHelloAt = -Infinity;
  /** Heartbeats (and hellos) accepted since this process started, for `/metrics`. */
  beatsReceived = 0;
  /** When the server itself could not read frames (ordered, merged, pruned): deadlines are held by it (status.ts). */
  private stalls: StallSpan[] = [];
  /** Since when this instance cannot write the database (an outage still open), or null (see {@link storeDown}). */
  private storeDownSince: number | null = null;
  /** Since when the database answers others during that outage (see {@link storeAnswers}), or null. */
  private storeAnswersSince: number | null = null;

  /** @param stores the context's stores over `sql` (context.ts). */
  constructor(
    private readonly sql: SqlDb,
    stores: LivenessStores,
    private readonly clock: Clock,
    private readonly cfg: LivenessConfig,
  ) {
    this.alarms = stores.alarms;
    this.hosts = stores.hosts;
    this.rollup = stores.rollup;
  }

  /** The grace added to every deadline, in ms. */
  get graceMs(): number {
    return this.cfg.graceMs;
  }

  /** Whether the server itself could not read frames in time at some point since `from` (ms since the epoch). */
  stalledSince(from: number): boolean {
    return this.held().some((s) => s.to >= from);
  }

  /** The interval the server judges an agent by: its own, capped by `maxInterval`. */
  effectiveInterval(declared: number): number {
    return Math.min(declared, this.cfg.maxIntervalMs);
  }

  /**
   * Records a `hello`. A new boot id starts a new sequence; the same boot id
   * (a reconnect of the same process) must keep growing.
   */
  async hello(host: string, m: HelloFields): Promise<HeartbeatResult> {
    const now = this.clock.now();
    const { result } = await this.sql.tx((tx) => this.helloWithRow(host, m, now, tx));
    if (result === 'ok') this.helloCounted(host, now);
    return result;
  }

  /**
   * Records a hello inside the caller's transaction (the hello group commit, hello-batcher.ts), and returns
   * the host's row as it was before (the session judges a takeover by it: one read of the row, not two). Call
   * {@link helloCounted} once it committed.
   */
  async helloWithRow(host: string, m: HelloFields, now: number, tx: Queryable): Promise<{ result: HeartbeatResult; before: HelloRow | undefined }> {
    const h = await this.hosts.getForHello(host, tx);
    if (!h) return { result: 'unknown-boot', before: h };
    if (h.bootId === m.bootId && h.lastSeq !== null && m.seq <= h.lastSeq) return { result: 'replay', before: h };
    const interval = this.effectiveInterval(m.interval);
    const d = deadlines(now, interval, this.cfg.graceMs);
    await tx.run(HELLO_SQL, [m.bootId, m.seq, interval, now, d.lateAt, d.dueAt, m.agentVersion, JSON.stringify(m.facts), this.cfg.instance ?? null, host]);
    await this.reconcileIn(host, now, tx);
    for (const kind of HELLO_RESOLVES) await this.alarms.resolve(host, kind, now, undefined, tx);
    return { result: 'ok', before: h };
  }

  /** Counts a hello accepted and committed (`/metrics`, the rollup, the stall watch's last hello). */
  helloCounted(host: string, now: number): void {
    this.countBeat(host, now);
    this.lastHelloAt = now;
  }

  private countBeat(host: string, now: number): void {
    this.beatsReceived++;
    this.rollup.count(host, now);
  }

  /**
   * Records a heartbeat. The hot path is one UPDATE that moves the deadlines (committed by itself, or with
   * the others of its group commit: the batcher passes its transaction as `q`, see heartbeat-batcher.ts); the
   * dashboard's count is kept in memory (heartbeat-rollup.ts); the status is re-derived only when it was not `up`.
   */
  async heartbeat(host: string, bootId: string, seq: number, q?: Queryable): Promise<HeartbeatResult> {
    const now = this.clock.now();
    const params = { now, t: now + this.cfg.graceMs, seq, host, bootId };
    // Alone on SQLite it needs its own transaction: run bare in autocommit, an UPDATE ... RETURNING read with
    // get() did not report a failed commit (the disk-full test lost heartbeats). PostgreSQL's autocommit reports it.
    const r = q
      ? await q.get<{ status: string }>(BEAT_SQL, params)
      : this.sql.engine === 'sqlite'
        ? (await this.sql.batch<{ status: string }>(BEAT_SQL, [params]))[0]
        : await this.sql.get<{ status: string }>(BEAT_SQL, params);
    if (!r) return this.refusedBeat(host, bootId, q);
    this.countBeat(host, now);
    if (r.status !== 'up') {
      if (q) await this.reconcileIn(host, now, q);
      else await this.reconcile(host);
    }
    return 'ok';
  }

  /**
   * Records a batch of heartbeats (the batcher's group commit), in one transaction. Results in the order of
   * `beats`, each as {@link heartbeat} gives it, or the storage error of a beat whose status change failed
   * after its beat was stored. Rejects when the batch's transaction failed: then nothing of it is stored.
   *
   * SQLite: one cached UPDATE per beat, run synchronously by `batch` (measured faster than the joined UPDATE;
   * a promise per statement doubled the cost); the rare beat that changes status is reconciled after the
   * commit, in its own transaction, as a lone heartbeat is. PostgreSQL: one UPDATE per round rather than one per
   * beat (each host once a round, so a host's later beats in the batch see its earlier ones): every statement
   * is a round trip, and a statement per beat held 10,000 agents to about a thousand beats a second.
   */
  async heartbeats(beats: readonly { host: string; bootId: string; seq: number }[]): Promise<(HeartbeatResult | Error)[]> {
    if (this.sql.engine === 'postgres') return this.sql.tx((q) => this.heartbeatRounds(beats, q));
    const now = this.clock.now();
    const t = now + this.cfg.graceMs;
    const rows = await this.sql.batch<{ status: string }>(
      BEAT_SQL,
      beats.map((b) => ({ now, t, seq: b.seq, host: b.host, bootId: b.bootId })),
    );
    const results: (HeartbeatResult | Error)[] = new Array(beats.length);
    for (const [i, b] of beats.entries()) {
      const r = rows[i];
      try {
        if (!r) {
          results[i] = await this.refusedBeat(b.host, b.bootId);
          continue;
        }
        this.countBeat(b.host, now);
        if (r.status !== 'up') await this.reconcile(b.host);
        results[i] = 'ok';
      } catch (err) {
        results[i] = err as Error;
      }
    }
    return results;
  }

  private async heartbeatRounds(beats: readonly { host: string; bootId: string; seq: number }[], q: Queryable): Promise<HeartbeatResult[]> {
    const now = this.clock.now();
    const results: HeartbeatResult[] = new Array(beats.length);
    let todo = beats.map((_, i) => i);
    while (todo.length) {
      const seen = new Set<string>();
      const round: number[] = [];
      const later: number[] = [];
      for (const i of todo) {
        const host = beats[i]!.host;
        if (seen.has(host)) later.push(i);
        else {
          seen.add(host);
          round.push(i);
        }
      }
      for (let k = 0; k < round.length; k += BATCH_ROWS) await this.beatRound(beats, round.slice(k, k + BATCH_ROWS), now, q, results);
      todo = later;
    }
    return results;
  }

  private async beatRound(beats: readonly { host: string; bootId: string; seq: number }[], round: number[], now: number, q: Queryable, results: HeartbeatResult[]): Promise<void> {
    const params: unknown[] = [];
    for (const i of round) params.push(beats[i]!.host, beats[i]!.bootId, beats[i]!.seq);
    const rows = await q.all<{ host: string; status: string }>(
      `WITH v (h, b, s) AS (VALUES ${round.map(() => '(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))').join(', ')})
       UPDATE hosts SET last_seen = CAST(? AS BIGINT), late_at = CAST(? AS BIGINT) + interval_ms, due_at = CAST(? AS BIGINT) + 2 * interval_ms, last_seq = v.s
       FROM v WHERE hosts.host = v.h AND hosts.boot_id = v.b AND hosts.last_seq < v.s RETURNING host, status`,
      [...params, now, now + this.cfg.graceMs, now + this.cfg.graceMs],
    );
    const status = new Map(rows.map((r) => [r.host, r.status]));
    for (const i of round) {
      const b = beats[i]!;
      const st = status.get(b.host);
      if (st === undefined) {
        results[i] = await this.refusedBeat(b.host, b.bootId, q);
        continue;
      }
      this.countBeat(b.host, now);
      if (st !== 'up') await this.reconcileIn(b.host, now, q);
      results[i] = 'ok';
    }
  }

  /** Why the heartbeat UPDATE matched no row: another boot (or no host), a connection left for another instance, or a replay. */
  private async refusedBeat(host: string, bootId: string, q?: Queryable): Promise<Exclude<HeartbeatResult, 'ok'>> {
    const h = await this.hosts.get(host, q);
    if (h?.bootId !== bootId) return 'unknown-boot';
    return this.heldElsewhere(h) ? 'moved' : 'replay';
  }

  /**
   * Whether another instance holds the host's connection now: the agent failed over (or went back) and
   * said hello there, so what this instance still reads from its old connection is stale.
   */
  private heldElsewhere(h: { instance: string | null }): boolean {
    return this.cfg.instance !== undefined && h.instance !== null && h.instance !== this.cfg.instance;
  }

  /** The agent said goodbye: a deliberate stop, alarmed as `agent-stopped`. */
  goodbye(host: string, bootId: string, seq: number): Promise<HeartbeatResult> {
    const now = this.clock.now();
    return this.sql.tx(async (tx): Promise<HeartbeatResult> => {
      const changed = await tx.run(`UPDATE hosts SET state = 'stopped', last_seq = ? WHERE host = ? AND boot_id = ? AND last_seq < ? AND state = 'active'`, [
        seq,
        host,
        bootId,
        seq,
      ]);
      if (changed === 0) {
        const h = await this.hosts.get(host, tx);
        return h?.bootId === bootId && this.heldElsewhere(h) ? 'moved' : 'replay';
      }
      await this.reconcileIn(host, now, tx);
      return 'ok';
    });
  }

  /** The connection closed. Without a goodbye that is `agent-disconnected`, at once. */
  async disconnected(host: string, o: { othersLive: boolean; expected: boolean }): Promise<void> {
    const now = this.clock.now();
    await this.sql.tx(async (tx) => {
      const h = await this.hosts.get(host, tx);
      // The agent is connected to another instance by now: this was its old connection.
      if (!h || this.heldElsewhere(h)) return;
      await tx.run('UPDATE hosts SET connected = ? WHERE host = ?', [o.othersLive ? 1 : 0, host]);
      if (o.othersLive || o.expected) return;
      if (DISCONNECT_ALARM_STATUSES.has(deriveStatus(h, now, this.held()))) {
        await this.alarms.open(host, DISCONNECT_ALARM.kind, DISCONNECT_ALARM.subject, now, { at: new Date(now).toISOString() }, undefined, tx);
      }
    });
  }

  /** Re-derives one host's status and applies the rules table if it changed. */
  async reconcile(host: string): Promise<void> {
    const now = this.clock.now();
    await this.sql.tx((tx) => this.reconcileIn(host, now, tx));
  }

  private async reconcileIn(host: string, now: number, q: Queryable): Promise<void> {
    const h = await this.hosts.get(host, q);
    if (!h) return;
    const status = deriveStatus(h, now, this.held());
    if (status === h.status) return;
    // Conditional on the status read: with several instances on one database, exactly one writes each change
    // (and so opens its alarm); the others find it done. On PostgreSQL (READ COMMITTED) the loser's UPDATE waits
    // for the winner's row lock, then re-reads the row, finds the status changed and updates nothing.
    if ((await q.run('UPDATE hosts SET status = ?, status_changed_at = ? WHERE host = ? AND status = ?', [status, now, host, h.status])) === 0) return;
    const rule = STATUS_RULES[status];
    for (const kind of rule.resolve) await this.alarms.resolve(host, kind, now, undefined, q);
    if (rule.open) {
      const lastSeen = h.lastSeen === null ? null : new Date(h.lastSeen).toISOString();
      await this.alarms.open(host, rule.open.kind, rule.open.subject, now, { from: h.status, to: status, lastSeen }, undefined, q);
    }
  }

  /** Finds every host whose deadline or maintenance window has passed and applies its change. Returns how many changed. */
  async sweep(): Promise<number> {
    const now = this.clock.now();
    let due = await this.sql.all<Overdue>(OVERDUE_SQL, { now });
    // Past the stored deadline but within the server's own stall time since the host's last heartbeat: held
    // (filtered here so that a storm does not cost a transaction per held host four times a second).
    const held = this.held();
    if (held.length) {
      due = due.filter((d) => d.status === 'maintenance' || now >= (d.status === 'up' ? d.lateAt : d.dueAt) + stallHold(d.lastSeen, now, held));
    }
    // (Only when something is due: the query below reads every host, and ran four times a second for ten minutes.)
    if (due.length && this.recovering(now)) {
      // Still coming back after a restart: a host not yet reconnected is waiting in the queue, not silent.
      const rows = await this.sql.all<{ host: string }>(`SELECT host FROM hosts WHERE status IN ('up', 'late') AND (last_seen IS NULL OR last_seen < @since)`, {
        since: this.startedAt,
      });
      const waiting = new Set(rows.map((r) => r.host));
      due = due.filter((d) => !waiting.has(d.host));
    }
    if (now - this.lastLingerCheck >= LINGER_CHECK_MS) {
      try {
        await this.openLingering(now);
      } catch (err) {
        this.cfg.log?.error({ err: (err as Error).message }, 'could not look for hosts in a status too long; retried at the next check');
      }
    }
    for (const d of due) {
      try {
        await this.reconcile(d.host);
      } catch (err) {
        await this.setAside(d, now, err as Error);
      }
    }
    return due.length;
  }

  /**
   * Opens the alarms of {@link LINGER_RULES} for hosts in a status longer than the rule allows (at most
   * every {@link LINGER_CHECK_MS}: the rules are a day long, and the query reads every host of the status).
   * A host whose alarm is open already is not looked at again.
   */
  private async openLingering(now: number): Promise<void> {
    this.lastLingerCheck = now;
    for (const [status, rule] of Object.entries(LINGER_RULES)) {
      // status_changed_at is null for a host that never changed status: then it is in it since enrolment.
      const hosts = await this.sql.all<{ host: string; since: number }>(LINGERING_SQL, { status, kind: rule.open.kind, since: now - rule.afterMs });
      for (const h of hosts) {
        try {
          await this.alarms.open(h.host, rule.open.kind, rule.open.subject, now, { status, since: new Date(h.since).toISOString() });
        } catch (err) {
          this.cfg.log?.error({ host: h.host, kind: rule.open.kind, err: (err as Error).message }, 'could not open an alarm; retried at the next check');
        }
      }
    }
  }

  /**
   * One host the sweep could not process (a row it cannot read, a failing write): logged with the host, and
   * its passed deadline moved one interval on, so that the sweep goes on with the others instead of failing
   * on it four times a second. It is looked at again then; a heartbeat sets its deadlines anew as usual.
   */
  private async setAside(d: Overdue, now: number, err: Error): Promise<void> {
    try {
      await this.sql.run(PUSH_DEADLINE_SQL, { host: d.host, now });
    } catch (pushErr) {
      this.cfg.log?.error({ host: d.host, err: (pushErr as Error).message }, 'could not move the deadline of a host the sweep failed on');
    }
    this.cfg.log?.error({ host: d.host, status: d.status, err: err.message }, 'liveness sweep failed on this host; looked at again in one interval');
  }

  /**
   * Records a span in which the server itself could not read agents' frames in time (gateway/stall-watch.ts):
   * every host's deadlines move by the part of it after the host's last heartbeat, at most
   * {@link HOLD_MAX_MS} (status.ts stallHold), so a genuinely silent agent is still declared missing, that much
   * later at worst, under overload that never ends; a database outage (`outage`, see {@link storeBack}) moves them
   * by all of it. Spans are kept while they can still matter.
   */
  noteStall(span: StallSpan): void {
    if (!(span.to > span.from)) return;
    const last = this.stalls[this.stalls.length - 1];
    // Only spans of one kind merge: a stall merged into an outage would lift its cap, an outage into a stall get one.
    if (last && !last.outage === !span.outage && span.from <= last.to) last.to = Math.max(last.to, span.to);
    else this.stalls.push(span.outage ? { from: span.from, to: span.to, outage: true } : { from: span.from, to: span.to });
    // A host whose last heartbeat is older than this is past any deadline (startGrace's included) plus the hold.
    const horizon = span.to - (2 * (2 * this.cfg.maxIntervalMs + this.cfg.graceMs) + 30_000 + HOLD_MAX_MS);
    while (this.stalls.length > 4096 || (this.stalls.length && this.stalls[0]!.to < horizon)) this.stalls.shift();
  }

  /**
   * This instance could not write the database (its lease renewal failed, instance-lease.ts): it has not
   * been able to since `since`, the last write known to have committed. Until {@link storeBack}, every host's
   * deadlines are held by the time since then: agents that keep their connections go on sending heartbeats
   * that cannot be stored, and their silence in the database is this instance's, as in a stall (uncapped:
   * nothing is judged while the database is unavailable anyway). Repeated calls keep the first `since`.
   */
  storeDown(since: number): void {
    this.storeDownSince ??= since;
  }

  /**
   * During an outage ({@link storeDown}), the database was seen answering at `at`: another instance renewed
   * its lease, or a write on another connection committed. The outage is then this instance's alone (a lock
   * held on its lease, a connection that hangs), not the store's: from `at` it holds deadlines only as a stall
   * does, at most {@link HOLD_MAX_MS}, so a lock held for ever cannot spare every host for ever. Repeated calls
   * keep the first `at`.
   */
  storeAnswers(at: number): void {
    if (this.storeDownSince !== null) this.storeAnswersSince ??= Math.max(at, this.storeDownSince);
  }

  /**
   * The database takes writes again (at `at`): the outage since {@link storeDown} is recorded as a span that
   * holds deadlines (noteStall), so an agent whose heartbeats were refused meanwhile has its usual deadline
   * from the end of the outage, and one that really went silent is still declared missing after it. Agents
   * whose hellos were refused meanwhile come back all at once, as after a start: while their hellos keep
   * coming, a host not back yet is waiting in the queue, not silent ({@link recovering}, from `at`).
   */
  storeBack(at: number): void {
    const since = this.storeDownSince;
    if (since === null) return;
    for (const span of this.outageSpans(at)) this.noteStall(span);
    this.storeDownSince = this.storeAnswersSince = null;
    this.startedAt = at;
  }

  /** The outage since {@link storeDown} up to `to`: held in full until the database was seen answering others, as a stall after. */
  private outageSpans(to: number): StallSpan[] {
    const since = this.storeDownSince;
    if (since === null) return [];
    const answers = this.storeAnswersSince;
    if (answers === null) return [{ from: since, to, outage: true }];
    return [
      { from: since, to: Math.min(answers, to), outage: true },
      { from: answers, to },
    ];
  }

  /** The spans that hold deadlines now: the stalls and outages noted, and an outage still open. */
  private held(): readonly StallSpan[] {
    return this.storeDownSince === null ? this.stalls : [...this.stalls, ...this.outageSpans(Infinity)];
  }

  /**
   * True while the fleet is still reconnecting after {@link startGrace} (or a database outage, {@link storeBack}):
   * some agent said hello within the last {@link RECOVERY_QUIET_MS}, for at
   * most {@link RECOVERY_MAX_MS}. On a loaded 2-core machine a 10,000-agent
   * restart took up to 95 s, past any fixed grace.
   */
  private recovering(now: number): boolean {
    return this.startedAt !== null && now - this.startedAt < RECOVERY_MAX_MS && now - this.lastHelloAt < RECOVERY_QUIET_MS;
  }

  /**
   * After a server start, gives every host that was fine a deadline long
   * enough for the fleet to come back: the server being down is not the
   * agents' silence. That is twice the normal deadline plus the longest wait
   * of the agent's reconnect backoff (agent/link/agent-link.ts: 3 intervals, between 5 s
   * and 30 s): an agent that lost the server may sleep that long before it
   * tries again, and then queue behind thousands of others (a 10,000-agent
   * restart took 30 to 40 s on the 2-core test machine; with only one deadline,
   * hundreds of agents still reconnecting were alarmed as missing).
   */
  async startGrace(): Promise<void> {
    const now = this.clock.now();
    this.startedAt = now;
    this.lastHelloAt = now;
    // Another instance sharing the database may be running with its agents: only the hosts held by no live
    // instance (this one before its restart, one that is down, or none) were waiting for this start.
    const waiting = `(instance IS NULL OR instance = @me OR instance NOT IN (${LIVE_INSTANCES_SQL}))`;
    const params = { now, me: this.cfg.instance ?? null, leaseCut: now - (this.cfg.leaseTimeoutMs ?? LEASE_TIMEOUT_MS) };
    await this.sql.tx((tx) => this.spare(waiting, params, tx));
  }

  /**
   * The restart grace for the hosts of an instance found down (instance-lease.ts): they are reconnecting to
   * a survivor, not silent. Called inside the transaction that declares the instance down: pass its `tx`.
   */
  spareHostsOf(instance: string, now: number, q: Queryable): Promise<void> {
    return this.spare('instance = @instance', { now, instance }, q);
  }

  /**
   * Gives the hosts `where` selects that were fine a deadline long enough to reconnect (see {@link startGrace})
   * and marks them not connected.
   */
  private async spare(where: string, params: Record<string, unknown> & { now: number }, q: Queryable): Promise<void> {
    await q.run(`UPDATE hosts SET connected = 0 WHERE ${where}`, params);
    // Set-based UPDATEs: a per-host loop took seconds at 10,000 hosts, all of it before listening. The deadline
    // only ever moves later: written where it is earlier (or unset), which is the two-argument max of SQLite in
    // a form PostgreSQL also runs; the reconnect backoff is clamped to [5 s, 30 s] by CASE for the same reason.
    const backoff = 'CASE WHEN 3 * interval_ms < 5000 THEN 5000 WHEN 3 * interval_ms > 30000 THEN 30000 ELSE 3 * interval_ms END';
    const due = `@now + 2 * (2 * interval_ms + @grace) + ${backoff}`;
    await q.run(`UPDATE hosts SET due_at = ${due} WHERE status IN ('up', 'late') AND ${where} AND (due_at IS NULL OR due_at < ${due})`, {
      ...params,
      grace: this.cfg.graceMs,
    });
    await q.run(`UPDATE hosts SET late_at = due_at - interval_ms WHERE status IN ('up', 'late') AND ${where} AND (late_at IS NULL OR late_at < due_at - interval_ms)`, params);
    // Only these can change status now: a late host is up again; the others are re-derived in case a CLI changed them.
    const check = await q.all<{ host: string }>(
      `SELECT host FROM hosts WHERE status IN ('up', 'late') AND (status = 'late' OR state != 'active' OR maintenance_until IS NOT NULL) AND ${where}`,
      params,
    );
    for (const { host } of check) await this.reconcileIn(host, params.now, q);
  }

  /** Sets or clears a maintenance window and applies the resulting status. */
  async setMaintenance(host: string, until: number | null): Promise<void> {
    await this.sql.tx(async (tx) => {
      await tx.run('UPDATE hosts SET maintenance_until = ? WHERE host = ?', [until, host]);
      await this.reconcileIn(host, this.clock.now(), tx);
    });
  }

  /** Marks a host revoked (its certificate is refused from now on) and applies the status. */
  async revoke(host: string): Promise<void> {
    await this.sql.tx(async (tx) => {
      await tx.run(`UPDATE hosts SET state = 'revoked' WHERE host = ?`, [host]);
      await this.reconcileIn(host, this.clock.now(), tx);
    });
  }
}

/** Beats a statement of {@link Liveness.heartbeats} (3 parameters each, well under either engine's limit). */
const BATCH_ROWS = 500;

// The deadlines of status.ts `deadlines()`, computed in SQL from the stored interval (@t = now + grace),
// so the hot path needs no SELECT before its UPDATE.
const BEAT_SQL = `UPDATE hosts SET last_seen = @now, late_at = @t + interval_ms, due_at = @t + 2 * interval_ms, last_seq = @seq
  WHERE host = @host AND boot_id = @bootId AND last_seq < @seq RETURNING status`;

// UNION ALL rather than OR: each arm can use its partial index (hosts_late, hosts_due), where the OR scanned
// every host four times a second (about 1 ms at 10,000 hosts).
const OVERDUE_COLS = 'host, status, last_seen AS "lastSeen", late_at AS "lateAt", due_at AS "dueAt"';
const OVERDUE_SQL = `SELECT ${OVERDUE_COLS} FROM hosts WHERE status = 'up' AND late_at <= @now
  UNION ALL SELECT ${OVERDUE_COLS} FROM hosts WHERE status = 'late' AND due_at <= @now
  UNION ALL SELECT ${OVERDUE_COLS} FROM hosts WHERE status = 'maintenance' AND maintenance_until <= @now`;

const PUSH_DEADLINE_SQL = `UPDATE hosts SET
  late_at = CASE WHEN status = 'up' THEN @now + interval_ms ELSE late_at END,
  due_at = CASE WHEN status = 'late' THEN @now + interval_ms ELSE due_at END,
  maintenance_until = CASE WHEN status = 'maintenance' THEN @now + interval_ms ELSE maintenance_until END
  WHERE host = @host`;

const LINGERING_SQL = `SELECT host, COALESCE(status_changed_at, enrolled_at) AS since FROM hosts h
  WHERE status = @status AND COALESCE(status_changed_at, enrolled_at) <= @since
    AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.host = h.host AND a.kind = @kind AND a.resolved_at IS NULL)`;

const HELLO_SQL = `UPDATE hosts SET state = CASE state WHEN 'revoked' THEN 'revoked' ELSE 'active' END,
  boot_id = ?, last_seq = ?, interval_ms = ?, last_seen = ?, late_at = ?, due_at = ?,
  connected = 1, agent_version = ?, facts = ?, instance = ? WHERE host = ?`;
