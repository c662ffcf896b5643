import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { RunChecker } from '../../shared/checker-messages.ts';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { AgentMessage, CloseCode, parseFrame, type ServerMessage } from '../../shared/protocol.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { BaselineSession } from '../baselines/baseline-session.ts';
import type { BaselineStore } from '../baselines/baseline-store.ts';
import { type EventLedger, ROLLED_BACK } from '../baselines/event-ledger.ts';
import { SpoolSession } from '../baselines/spool-session.ts';
import type { CheckerStore } from '../checkers/checker-store.ts';
import { acceptsCertificate, type HostStore } from '../liveness/host-store.ts';
import type { HeartbeatResult, Liveness } from '../liveness/liveness.ts';
import type { SqlDb } from '../storage/engine.ts';
import { faultLine, storageFault } from '../storage/storage-fault.ts';
import type { ConnectionStats, ViolationReason } from './connection-stats.ts';
import { recordDigestBoot } from './digest-boot.ts';
import type { HeartbeatBatcher } from './heartbeat-batcher.ts';
import { type HelloBatcher, recordHellos } from './hello-batcher.ts';
import type { LiveSessionStore, RemoteSession } from './live-session-store.ts';
import type { LogBudget } from './log-budget.ts';
import type { LiveSession, SessionRegistry } from './session-registry.ts';
import { supersededWhileHeard, TakeoverWatch } from './takeover-watch.ts';

export interface SessionDeps {
  sql: SqlDb;
  liveness: Liveness;
  alarms: AlarmStore;
  hosts: HostStore;
  /** Shared by every session on the database (context.ts): they hold only prepared statements. */
  baselines: BaselineStore;
  ledger: EventLedger;
  registry: SessionRegistry;
  clock: Clock;
  log: Logger;
  /** How long a new connection may take to send `hello`, in ms. */
  helloTimeoutMs: number;
  version: string;
  /** Refusal, drop and violation counters for `/metrics`. */
  stats?: ConnectionStats;
  /** Group commit for heartbeats; without it each heartbeat commits alone. */
  beats?: HeartbeatBatcher;
  /** Group commit for hellos (a reconnect storm); without it each hello commits alone. */
  hellos?: HelloBatcher;
  /**
   * Storage errors are logged at most every 10 s across all sessions, the rest counted: at a thousand
   * heartbeats a second a full disk would otherwise log a thousand lines a second.
   */
  storageLog: LogBudget;
  /**
   * How many `agent hello` lines are logged at info level (absent: every one); the others go to debug, and the
   * next info line says how many were held back.
   */
  helloLog?: LogBudget;
  /** Where the checkers a `hello` declares are kept (absent: not recorded). */
  checkers?: CheckerStore;
  /** The live sessions of every instance on the database (absent: this process's registry only). */
  live?: LiveSessionStore;
}

/**
 * One authenticated agent connection. The host identity comes from the
 * verified client certificate; every frame is validated against the protocol
 * schema, and the first bad one closes the connection with a specific code.
 */
export class AgentSession implements LiveSession {
  bootId: string | null = null;
  readonly connId = randomUUID();
  /** Whether this connection's row is in the registry across instances (dropped at close). */
  private liveRow = false;
  /** The boot id this connection's hello claimed, set as its processing begins (before `bootId`, set once accepted). */
  helloBootId: string | null = null;
  private saidGoodbye = false;
  private closed = false;
  /** Set when the server itself closes: that is no unexpected disconnect. */
  private closedByServer = false;
  private helloTimer: TimerHandle | undefined;
  private readonly log: Logger;
  /** Baselines: reports, events and heartbeat digests. */
  private readonly baseline: BaselineSession;
  private lastSeq = -1;
  /** The spool: records stored once, acked after commit, chain heads checked. */
  private readonly spool: SpoolSession;
  /** Set when another live connection holds the same certificate: both are marked. */
  clone: { bootId: string | null; remote: string } | null = null;
  readonly remote: string;
  lastFrameAt: number | null = null;
  /** The interval this connection's agent is judged by (ms), from its accepted hello. */
  private intervalMs: number | null = null;
  /** Signs that this connection is not the agent it claims to be. */
  private readonly takeover: TakeoverWatch;
  /**
   * This agent's frames and its close, processed one after another in arrival order: a record is stored
   * after the heartbeat sent before it, a disconnect after the goodbye.
   */
  private queue: Promise<void> = Promise.resolve();
  /** Settles {@link ended}. */
  private closeProcessed!: () => void;
  private readonly closing = new Promise<void>((resolve) => {
    this.closeProcessed = resolve;
  });

  /**
   * @param serial the client certificate's serial: a heartbeat that finds the host re-enrolled
   * (`token --replace`) before the close command reached this session is told so, not called a replay.
   */
  constructor(
    readonly host: string,
    private readonly ws: WebSocket,
    private readonly d: SessionDeps,
    remote = 'unknown',
    private readonly serial?: string,
  ) {
    this.remote = remote;
    this.log = d.log.child({ host });
    this.baseline = new BaselineSession(host, d.baselines, d.clock, this.log, (m) => this.send(m));
    this.spool = new SpoolSession(
      host,
      d.ledger,
      d.clock,
      this.log,
      (m) => this.send(m),
      () => this.baseline.stateChanged(),
    );
    this.takeover = new TakeoverWatch(host, d.alarms, this.log, (reason) => this.baseline.requestFresh(reason, () => {}));
    d.registry.add(this);
    this.helloTimer = d.clock.setTimeout(() => {
      d.stats?.drop('no-hello');
      this.close(CloseCode.NO_HELLO, 'no hello in time');
    }, d.helloTimeoutMs);
    ws.on('message', (data, isBinary) => {
      this.lastFrameAt = d.clock.now();
      // The first frame is either the hello or a violation that closes: no later hello timeout either way.
      d.clock.clearTimeout(this.helloTimer);
      this.enqueue('frame', () => this.onFrame(data as Buffer, isBinary));
    });
    ws.on('close', (code) => this.enqueue('close', () => this.onClose(code)));
    ws.on('error', (err) => {
      // ws has already closed with 1009 when a frame's header announces more than maxPayload.
      d.stats?.drop((err as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame-too-large' : 'socket-error');
      this.log.warn({ err: err.message }, 'agent socket error');
    });
  }

  close(code: CloseCode, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedByServer = true;
    this.ws.close(code, reason);
    // A peer that never answers the close frame must not hold the socket.
    const t = this.d.clock.setTimeout(() => this.ws.terminate(), 2000);
    this.ws.once('close', () => this.d.clock.clearTimeout(t));
  }

  /** Appends a step to this agent's queue; a step's error is logged, and the next step still runs. */
  private enqueue(what: string, step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => {
      this.log.error({ err: (err as Error).message, during: what }, 'agent message handling failed');
    });
  }

  /** Resolves once every frame and the close received so far are processed. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Resolves once the connection's close is processed (its disconnect stored, or its failure logged). */
  ended(): Promise<void> {
    return this.closing;
  }

  markClone(other: { bootId: string | null; remote: string }): void {
    this.clone = other;
  }

  requestFresh(reason: string, onStored: (storedAt: number) => void): void {
    this.baseline.requestFresh(reason, onStored);
  }

  runChecker(m: RunChecker): boolean {
    if (this.closed || this.bootId === null || this.ws.readyState !== this.ws.OPEN) return false;
    this.send(m);
    return true;
  }

  private send(m: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(m));
  }

  /** Closes for a protocol violation: `reason` is the metric's label, `error` the alarm's and close frame's text. */
  private async violation(reason: ViolationReason, error: string): Promise<void> {
    this.log.warn({ error }, 'protocol violation, closing');
    this.d.stats?.violation(reason);
    this.d.stats?.drop('protocol-violation');
    try {
      await this.d.alarms.open(this.host, 'protocol-violation', error.slice(0, 200), this.d.clock.now());
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not store protocol-violation alarm');
    }
    this.close(CloseCode.PROTOCOL_VIOLATION, error.slice(0, 120));
  }

  private async onFrame(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.closed) return;
    if (isBinary) return this.violation('binary', 'binary frame');
    const parsed = parseFrame(AgentMessage, data);
    if (!parsed.ok) return this.violation(parsed.fault, parsed.error);
    const m = parsed.value;
    // Anything but a heartbeat first lets the queued heartbeats commit, so this agent's messages are stored in order.
    if (m.type !== 'heartbeat') await this.d.beats?.flush();
    try {
      if (m.type !== 'hello' && this.bootId === null) return await this.violation('before-hello', `${m.type} before hello`);
      if (m.type !== 'hello' && m.bootId !== this.bootId) return await this.violation('boot-id-changed', 'boot id changed within a connection');
      if (m.seq <= this.lastSeq) return await this.replay(m.seq);
      this.lastSeq = m.seq;
      switch (m.type) {
        case 'hello':
          return await this.onHello(m);
        case 'heartbeat': {
          const r = this.d.beats ? await this.batched(m.bootId, m.seq, m.wantAck === true) : await this.d.liveness.heartbeat(this.host, m.bootId, m.seq);
          if (r instanceof Error) return this.storageError(r, 'heartbeat');
          await this.onResult(r, m.seq, m.wantAck === true); // a replay writes its alarm, which may fail on a full disk too
          if (r !== 'ok') return;
          await this.spool.onHeartbeat(m.spool, m.bootId, this.clone !== null);
          await this.baseline.onHeartbeat(m.digest);
          if (m.digest && !this.d.registry.sentDigests(this.host, m.bootId)) await this.noteDigestBoot(m.bootId);
          return await this.takeover.onHeartbeat(m.digest, this.d.clock.now());
        }
        case 'record':
          return await this.spool.onRecord(m, this.clone !== null);
        case 'report': {
          this.takeover.onReport();
          const err = await this.baseline.onReport(m);
          // Parts out of order or too many entries: the report as a whole breaks its schema.
          return err ? await this.violation('schema', err) : undefined;
        }
        case 'event':
          return await this.baseline.onEvent(m);
        case 'goodbye':
          this.saidGoodbye = true;
          return await this.onResult(await this.d.liveness.goodbye(this.host, m.bootId, m.seq), m.seq, true);
      }
    } catch (err) {
      // A storage error must not take the server down.
      this.storageError(err as Error & { code?: string }, m.type);
      // A heartbeat that could not be stored is just not acked: the connection stays and the next beat records the
      // agent once the disk has room again. Closing would send the whole fleet into reconnect storms meanwhile.
      if (m.type === 'heartbeat') return;
      this.close(CloseCode.SERVER_ERROR, 'server error');
    }
  }

  /**
   * The first digested heartbeat of this boot this instance hears: written for every instance to read at the
   * boot's next hello (once per boot and instance, never per heartbeat). A failed write is tried again at the
   * next digested heartbeat.
   */
  private async noteDigestBoot(bootId: string): Promise<void> {
    try {
      await recordDigestBoot(this.d.sql, this.host, bootId, this.d.clock.now());
      this.d.registry.noteDigest(this.host, bootId);
    } catch (err) {
      this.storageError(err as Error & { code?: string }, 'digest boot');
    }
  }

  /**
   * A hello of this boot on another instance superseded this connection (its `close-session`, queued at
   * `at`): closes it, and judges it here, where its last frame time is known. Heard within its interval and
   * grace of `at`, this server not stalled meanwhile, and not closing already, it raises
   * `live-session-superseded`, unless the peer's own close crossing ours says it is moving (a failback's 4010,
   * which may be unread yet and then answers our close).
   */
  supersededElsewhere(at: number): void {
    const lastFrameAt = this.lastFrameAt;
    const judged =
      this.bootId !== null &&
      this.intervalMs !== null &&
      lastFrameAt !== null &&
      !this.closed &&
      this.ws.readyState === this.ws.OPEN &&
      supersededWhileHeard({
        at,
        lastFrameAt,
        intervalMs: this.intervalMs,
        graceMs: this.d.liveness.graceMs,
        serverStalled: this.d.liveness.stalledSince(at - this.intervalMs - this.d.liveness.graceMs),
      });
    if (judged) {
      const bootId = this.bootId!;
      const since = at - this.intervalMs! - this.d.liveness.graceMs;
      this.ws.once('close', (code: number) => {
        // Asked again at the close: a stall just ended may be noted only now (the command can be read before the
        // tick that notes it), and a frozen peer's close takes 2 s.
        if (code !== CloseCode.MOVING && !this.d.liveness.stalledSince(since)) this.enqueue('superseded elsewhere', () => this.raiseSuperseded(bootId, at, at - lastFrameAt!));
      });
    }
    this.close(CloseCode.SUPERSEDED, 'the agent is connected to another instance');
  }

  /** Raises `live-session-superseded` for this connection, naming the instance and address that took its place. */
  private async raiseSuperseded(bootId: string, at: number, heardMsAgo: number): Promise<void> {
    const rows = await this.d.live?.elsewhere(this.host).catch(() => []);
    const by = rows?.filter((r) => r.bootId === bootId).at(-1);
    await this.takeover.onSupersededElsewhere(this.d.clock.now(), {
      bootId,
      remote: this.remote,
      heardMsAgo,
      commandAt: at,
      by: by ? { instance: by.instance, remote: by.remote } : null,
    });
  }

  /** The heartbeat through the group commit: its result once its batch committed, or the storage error. */
  private batched(bootId: string, seq: number, wantAck: boolean): Promise<HeartbeatResult | Error> {
    return new Promise((resolve) => this.d.beats!.submit(this.host, bootId, seq, resolve, wantAck));
  }

  private storageError(err: Error & { code?: string }, type: string): void {
    if (this.d.stats) this.d.stats.storageErrors++;
    const suppressed = this.d.storageLog.take(this.d.clock.now());
    if (suppressed === null) return;
    const full = err.code === 'SQLITE_FULL';
    // The catalogued line (TW_DISK_FULL, TW_DB_READONLY) says what to do; the first words stay what they were.
    const fault = storageFault(err, this.d.sql.name);
    this.log.error(
      { err: err.message, code: err.code, type, suppressed, ...(fault ? { error: faultLine(fault) } : {}) },
      full ? "database disk is full: agent messages are not recorded until space is freed on the data dir's file system" : fault ? faultLine(fault) : 'could not record message',
    );
  }

  private async onHello(m: AgentMessage & { type: 'hello' }): Promise<void> {
    if (this.helloBootId !== null) return this.violation('second-hello', 'second hello on one connection');
    // The registry is decided before the first await: another connection's hello for this host may run
    // between this one's statements, and must find this boot claimed (or it would call the same agent's
    // reconnect a clone).
    this.helloBootId = m.bootId;
    const superseded: { remote: string; lastFrameAt: number | null }[] = [];
    const clones: { bootId: string | null; remote: string; instance?: string }[] = [];
    for (const other of this.d.registry.others(this)) {
      if (other.helloBootId === m.bootId) {
        superseded.push({ remote: other.remote, lastFrameAt: other.lastFrameAt });
        other.close(CloseCode.SUPERSEDED, 'superseded by a new connection'); // the same agent reconnected
      } else {
        // Two live connections with one certificate (a copied key, or a second process): both are
        // marked, their records stored as suspect, and the alarm names both.
        other.markClone({ bootId: m.bootId, remote: this.remote });
        this.markClone({ bootId: other.helloBootId, remote: other.remote });
        clones.push({ bootId: other.helloBootId, remote: other.remote });
      }
    }
    let moved: RemoteSession[] = [];
    if (this.d.live) {
      this.liveRow = true;
      const elsewhere = await this.d.live.hello({ connId: this.connId, host: this.host, bootId: m.bootId, remote: this.remote });
      moved = elsewhere.moved;
      for (const other of elsewhere.clones) {
        this.markClone({ bootId: other.bootId, remote: other.remote });
        clones.push(other);
      }
    }
    for (const other of clones) {
      // Opened once: the alarm's conditional insert lets one instance (or connection) open it.
      await this.d.alarms.open(this.host, 'identity-clone', 'two live connections with one certificate', this.d.clock.now(), {
        bootIds: [other.bootId, m.bootId],
        remotes: [other.remote, this.remote],
        ...(other.instance ? { instances: [other.instance, this.d.live!.instance] } : {}),
      });
      this.log.warn({ bootIds: [other.bootId, m.bootId], remotes: [other.remote, this.remote] }, 'second live connection with the same identity');
    }
    // Superseded meanwhile by a newer connection of the same boot: that one is the agent now.
    if (this.closed) return;
    // The host row, spool head, executable hash and checkers in one transaction (with the others of its group).
    const o = await (this.d.hellos
      ? this.d.hellos.submit(this.host, m)
      : recordHellos(this.d, [{ host: this.host, m }]).then(([r]) => (r instanceof Error ? Promise.reject(r) : r!)));
    if (this.closed) return;
    const r = o.result;
    if (r !== 'ok') {
      // The same boot with a smaller sequence and an older spool head: a VM restored from a
      // snapshot resumed the old process. A warning, and the agent goes on with a new boot id.
      if (r === 'replay' && m.spool && (await this.spool.isRollback(m.spool))) {
        await this.spool.rolledBack(m.bootId, m.spool);
        return this.close(CloseCode.REPLAY, ROLLED_BACK);
      }
      return this.replay(m.seq);
    }
    // The same boot on another instance is the agent that moved here: that instance closes its old socket.
    if (moved.length) await this.d.live!.supersede(this.host, moved);
    if (m.spool && o.spool) this.spool.noteHello(m.spool, o.spool);
    this.bootId = m.bootId;
    this.intervalMs = this.d.liveness.effectiveInterval(m.interval);
    this.baseline.setRunningImage(m.exePath, m.exeSha256);
    if (o.exe === 'changed') this.log.warn('agent executable differs from the accepted one');
    if (o.checkersError) this.log.error({ err: o.checkersError.message }, 'could not record the checkers this agent declared');
    const heldBack = this.d.helloLog ? this.d.helloLog.take(this.d.clock.now()) : 0;
    if (heldBack !== null) this.log.info({ bootId: m.bootId, agentVersion: m.agentVersion, ...(heldBack ? { helloLinesHeldBack: heldBack } : {}) }, 'agent hello');
    else if (this.d.log.isLevelEnabled('debug')) this.log.debug({ bootId: m.bootId, agentVersion: m.agentVersion }, 'agent hello');
    // The interval hello() stored: the declared one, capped (no SELECT: a reconnect storm is thousands of hellos).
    this.send({ type: 'welcome', host: this.host, serverTime: this.d.clock.now(), interval: this.d.liveness.effectiveInterval(m.interval) });
    // After the welcome: a report asked for before it would be dropped by the agent, not yet connected.
    const before = o.before;
    // Its digests noted by whichever instance heard them first: this one need not write them again.
    if (before?.digestBootId === m.bootId) this.d.registry.noteDigest(this.host, m.bootId);
    if (before) {
      await this.takeover.onHello({
        now: this.d.clock.now(),
        bootId: m.bootId,
        seq: m.seq,
        remote: this.remote,
        stored: { bootId: before.bootId, lastSeq: before.lastSeq, lastSeen: before.lastSeen, intervalMs: before.intervalMs },
        superseded,
        graceMs: this.d.liveness.graceMs,
        serverStalled: this.d.liveness.stalledSince(this.d.clock.now() - before.intervalMs - this.d.liveness.graceMs),
        exeExpected: !!before.exeSha256,
        exeSent: !!m.exeSha256,
        digestsSeen: this.d.registry.sentDigests(this.host, m.bootId),
      });
    }
  }

  /** `ack` only when asked: a goodbye always, a heartbeat when it says `wantAck` (the agent's proof of life). */
  private async onResult(r: HeartbeatResult, seq: number, ack: boolean): Promise<void> {
    if (r === 'ok') return ack ? this.send({ type: 'ack', seq }) : undefined;
    // Frames left in this connection's buffer after the agent failed over: it is another instance's now.
    if (r === 'moved') return this.close(CloseCode.SUPERSEDED, 'the agent is connected to another instance');
    // Re-enrollment clears the stored boot: until the next tick closes this connection, its
    // heartbeats find no boot. That is the certificate being replaced, not a replay to alarm on.
    if (r === 'unknown-boot' && this.serial !== undefined && !acceptsCertificate(await this.d.hosts.get(this.host), this.serial)) {
      return this.close(CloseCode.REVOKED, 'certificate replaced');
    }
    return this.replay(seq);
  }

  private async replay(seq: number): Promise<void> {
    this.d.stats?.drop('replay');
    await this.d.alarms.open(this.host, 'replay', 'sequence number did not grow', this.d.clock.now(), { seq });
    this.close(CloseCode.REPLAY, 'replayed sequence number');
  }

  /** @param code the close code: {@link CloseCode.MOVING} is the agent leaving for another server of its list. */
  private async onClose(code: number): Promise<void> {
    try {
      await this.recordClose(code);
    } finally {
      this.closeProcessed();
    }
  }

  private async recordClose(code: number): Promise<void> {
    this.closed = true;
    this.d.clock.clearTimeout(this.helloTimer);
    this.d.registry.remove(this);
    if (this.liveRow) {
      // A row left by a failed delete is pruned by this instance's lease job (server-app.ts).
      await this.d.live?.drop(this.connId).catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'could not drop the live-session row'));
    }
    try {
      await this.d.beats?.flush();
      if (this.bootId === null) return; // never said hello: nothing was up
      await this.d.liveness.disconnected(this.host, { othersLive: this.d.registry.has(this.host), expected: this.saidGoodbye || this.closedByServer || code === CloseCode.MOVING });
      this.log.info({ goodbye: this.saidGoodbye }, 'agent disconnected');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not record disconnect');
    }
  }
}
