import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
// --- alarms reach people: channels, outbox workers, dashboard, metrics, daily report
import { join } from 'node:path';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { CloseCode } from '../shared/protocol.ts';
import { VERSION } from '../shared/version.ts';
import type { FloodLimits } from './alarms/alarm-flood.ts';
import { AlarmReminders } from './alarms/alarm-reminders.ts';
import type { AlarmChannel } from './alarms/channels/channel.ts';
import { MailChannel } from './alarms/channels/mail-channel.ts';
import { createChannels } from './alarms/channels/registry.ts';
import { Outbox, type OutboxOptions } from './alarms/outbox.ts';
import { OutboxWorker, type OutboxWorkerOptions } from './alarms/outbox-worker.ts';
import { CheckerScheduler } from './checkers/checker-scheduler.ts';
import { CheckerWindow } from './checkers/checker-window.ts';
import { splitHostPort } from './config.ts';
import { openServerContext, type ServerContext } from './context.ts';
import { Dashboard, isLoopbackHost } from './dashboard/dashboard-server.ts';
import { createMetrics } from './dashboard/metrics.ts';
import { ConnectionStats } from './gateway/connection-stats.ts';
import { createGateway } from './gateway/gateway.ts';
import { HeartbeatBatcher } from './gateway/heartbeat-batcher.ts';
import { HelloBatcher } from './gateway/hello-batcher.ts';
import { LiveSessionStore } from './gateway/live-session-store.ts';
import { LogBudget } from './gateway/log-budget.ts';
import { SessionRegistry } from './gateway/session-registry.ts';
import { StallWatch } from './gateway/stall-watch.ts';
import { TicketRotation, ticketOptions } from './gateway/tls-tickets.ts';
import { InstanceLease } from './liveness/instance-lease.ts';
import { ReportMailer } from './reports/report-mailer.ts';
import { Retention } from './retention.ts';
import { faultLine, storageFault } from './storage/storage-fault.ts';

/** TLS handshakes in flight at once that mean a reconnect storm (one agent reconnecting is one or two). */
export const BUSY_HANDSHAKES = 64;
/** ...and only while the event loop was busy at least this fraction of the tick: a storm saturates it, idle peers do not. */
export const BUSY_LOOP = 0.5;

export interface ServerAppOptions {
  dir: string;
  listen?: string;
  dashboard?: string;
  clock: Clock;
  log: Logger;
  /** How often overdue hosts and CLI commands are looked for, in ms. */
  tickMs?: number;
  /** Alarm channels to use instead of the configured ones (tests). */
  channels?: AlarmChannel[];
  /** Period and limits of the outbox workers. */
  outbox?: Omit<OutboxWorkerOptions, 'clock' | 'log'> & OutboxOptions;
  /**
   * The fraction (0..1) of the time since its previous call that the event loop was busy. Default: Node's
   * event loop utilisation of this process.
   */
  loopUtilization?: () => number;
  /** Uniform in [0, 1): where each host's checker run falls in the window (tests fix it). */
  random?: () => number;
  /** Per-host alarm flood limits (default `FLOOD_LIMITS`). */
  floodLimits?: FloodLimits;
}

/** How often an instance deletes its live-session rows whose connection is gone (a close whose delete failed), in ms. */
const LIVE_PRUNE_MS = 60_000;
/** `agent hello` lines logged at info level each 10 s: every one of a few reconnects, not a fleet's after a restart. */
const HELLO_LINES = 100;

/** How far back (by queue time) a PostgreSQL instance re-reads commands that may have committed late. */
const COMMAND_LOOKBACK_MS = 60_000;

/** A running server: the agent gateway, the status page, and the loop that finds silence. */
export class ServerApp {
  readonly ctx: ServerContext;
  readonly registry = new SessionRegistry();
  /** What the gateway refused and dropped, for /metrics. */
  readonly stats = new ConnectionStats();
  private readonly beats: HeartbeatBatcher;
  private readonly hellos: HelloBatcher;
  private readonly gateway: HttpsServer;
  private readonly tickets: TicketRotation;
  private readonly page: HttpServer | HttpsServer;
  private tick?: TimerHandle;
  /** The tick's jobs: each runs alone (a pass due while the last still runs is skipped), failures logged. */
  private readonly jobs: Record<'lease' | 'commands' | 'sweep' | 'floods' | 'reminders' | 'checkers' | 'rollup', GuardedJob>;
  private unlisten?: () => void;
  private readonly tickFaults = new LogBudget(1, 10_000);
  private readonly handshakesInFlight: () => number;
  private readonly stallWatch: StallWatch;
  private stalled = false;
  private readonly loopUtilization: () => number;
  readonly dashboard: Dashboard;
  readonly workers: OutboxWorker[];
  private readonly outboxes: Outbox[];
  private readonly reportMailer?: ReportMailer;
  private readonly retention: Retention;
  /** When checkers run: plans the window, sends due runs, marks missed ones. */
  readonly checkers: CheckerScheduler;
  /** This instance's lease among those sharing the database, and its watch over theirs. */
  readonly lease: InstanceLease;
  /** The last command this instance has read (each instance reads every command once). */
  private commandCursor = 0;
  /** Commands acted on lately, by id (PostgreSQL's late commits are read again within the lookback). */
  private readonly seenCommands = new Map<number, number>();
  private lastExpire = -Infinity;
  /** This instance's rows in the registry across instances. */
  readonly live: LiveSessionStore;
  private lastLivePrune = -Infinity;

  constructor(private readonly o: ServerAppOptions) {
    const ctx = (this.ctx = openServerContext(o.dir, o.clock, o.log, o.floodLimits));
    // 4 ms: heartbeats arriving together share a commit (see heartbeat-batcher.ts); the ack waits at most that long.
    // One that asks for no ack waits up to 50 ms for another's commit (the sweep commits what waits first).
    this.beats = new HeartbeatBatcher(ctx.liveness, o.clock, { windowMs: 4, maxBatch: 256, holdMs: 50 });
    // 2 ms, as the hellos: a reconnect storm registers its connections in groups, not a commit each.
    this.live = new LiveSessionStore(ctx.sql, ctx.config.instance, o.clock, ctx.commands, undefined, { windowMs: 2, maxBatch: 256 });
    // 2 ms: the hellos of a reconnect storm share a commit (see hello-batcher.ts).
    this.hellos = new HelloBatcher(ctx, { windowMs: 2, maxBatch: 256 });
    const { paths } = ctx;
    const read = (p: string) => readFileSync(p, 'utf8');
    const ca = { keyPem: read(paths.caKey), certPem: read(paths.caCert) };
    const serverCert = { keyPem: read(paths.serverKey), certPem: read(paths.serverCert) };
    const { server, handshakesInFlight } = createGateway({
      ...ctx,
      registry: this.registry,
      live: this.live,
      log: o.log,
      helloTimeoutMs: 10_000,
      version: VERSION,
      ca,
      serverCert,
      tickets: ticketOptions(ca.keyPem, o.clock.now()),
      stats: this.stats,
      beats: this.beats,
      hellos: this.hellos,
      storageLog: new LogBudget(1, 10_000),
      helloLog: new LogBudget(HELLO_LINES, 10_000),
    });
    this.gateway = server;
    this.tickets = new TicketRotation(server, ca.keyPem, o.clock.now());
    this.handshakesInFlight = handshakesInFlight;
    this.stallWatch = new StallWatch({ tickMs: o.tickMs ?? 250, lagMs: 200, busyHandshakes: BUSY_HANDSHAKES, busyLoop: BUSY_LOOP });
    this.loopUtilization = o.loopUtilization ?? eventLoopBusy();

    const channels = o.channels ?? createChannels({ config: ctx.config, dir: paths.dir });
    this.outboxes = channels.map((c) => new Outbox(ctx.sql, c.name, { ...o.outbox, instance: ctx.config.instance, group: c.group }));
    this.workers = channels.map((c, i) => new OutboxWorker(this.outboxes[i]!, c, { clock: o.clock, log: o.log, ...o.outbox }));
    const mail = channels.find((c): c is MailChannel => c instanceof MailChannel && c.group === undefined);
    if (mail) this.reportMailer = new ReportMailer(ctx.sql, ctx.hosts, (m) => mail.mail(m), { clock: o.clock, log: o.log });
    const metrics = createMetrics({
      sql: ctx.sql,
      hosts: ctx.hosts,
      clock: o.clock,
      beatsReceived: () => ctx.liveness.beatsReceived,
      connectedAgents: () => this.registry.size,
      stats: this.stats,
    });
    const dashHost = splitHostPort(o.dashboard ?? ctx.config.dashboard).host;
    // Beyond loopback a password would cross a network: HTTPS only, with the server's certificate.
    this.dashboard = new Dashboard({
      ctx,
      clock: o.clock,
      log: o.log,
      metrics,
      metricsTokenFile: join(paths.dir, 'metrics.token'),
      tls: isLoopbackHost(dashHost) ? undefined : serverCert,
    });
    this.page = this.dashboard.server;
    this.lease = new InstanceLease(ctx.sql, ctx.alarms, {
      name: ctx.config.instance,
      clock: o.clock,
      log: o.log.child({ component: 'lease' }),
      spare: (instance, now, q) => ctx.liveness.spareHostsOf(instance, now, q),
      outage: ctx.liveness,
    });
    this.retention = new Retention(ctx.sql, ctx.rollup, { clock: o.clock, log: o.log, retentionMs: ctx.config.retention, channels: channels.map((c) => c.name) });
    this.checkers = new CheckerScheduler(ctx.sql, ctx.checkers, ctx.alarms, {
      window: new CheckerWindow(ctx.config.checkerWindow),
      timeoutMs: ctx.config.checkerTimeout,
      clock: o.clock,
      log: o.log.child({ component: 'checkers' }),
      connected: (host) => this.registry.ready(host),
      send: (host, m) => this.registry.runChecker(host, m),
      random: o.random,
    });
    const reminders = new AlarmReminders(ctx.sql, ctx.config.remind);
    const job = (fn: () => Promise<void>, what: string) => new GuardedJob(fn, (err) => this.tickError(err, what));
    this.jobs = {
      lease: job(async () => {
        if (this.tickets.refresh(o.clock.now())) o.log.info("TLS session tickets now use this period's key");
        // An instance declared down holds no live session any more.
        for (const down of await this.lease.tick(this.registry.size)) await this.live.dropInstance(down);
        if (o.clock.now() - this.lastLivePrune >= LIVE_PRUNE_MS) {
          this.lastLivePrune = o.clock.now();
          await this.live.prune((id) => this.registry.holds(id));
        }
      }, 'could not renew the instance lease; retrying next tick'),
      commands: job(() => this.applyCommands(), 'could not apply CLI commands; retrying next tick'),
      sweep: job(async () => {
        await this.beats.flush();
        await ctx.liveness.sweep();
      }, 'watchdog tick failed; retrying next tick'),
      floods: job(async () => {
        await ctx.alarms.settleFloods(o.clock.now());
      }, 'could not resolve a quiet alarm flood; retrying next tick'),
      reminders: job(async () => {
        await reminders.tick(o.clock.now());
      }, 'could not write alarm reminders; retrying next tick'),
      checkers: job(async () => {
        await this.checkers.tick();
      }, 'checker tick failed; retrying next tick'),
      rollup: job(async () => {
        await ctx.rollup.flushIfDue();
      }, 'could not write the heartbeat rollup; kept for the next try'),
    };
  }

  /** Starts listening; resolves with the bound addresses. */
  async start(): Promise<{ gateway: AddressInfo; dashboard: AddressInfo }> {
    // Fails fast (TW_DB_UNAVAILABLE, TW_DB_NEWER) rather than at the first agent.
    await this.ctx.sql.ready();
    await this.lease.acquire((ms) => new Promise((resolve) => this.o.clock.setTimeout(resolve, ms)));
    // The rows of a predecessor killed under this name: its connections died with it.
    await this.live.dropInstance(this.live.instance);
    // The lease is ours: no twin runs, so claims in this instance's name are a dead predecessor's.
    for (const box of this.outboxes) {
      const n = await box.releaseOwnClaims();
      if (n) this.o.log.info({ channel: box.channel, deliveries: n }, 'released the outbox claims a previous process of this instance held');
    }
    // Commands before this start are not this instance's: their state changes are stored, and a running
    // instance (if any) applies their effects. With none running, they are tidied as applied.
    this.commandCursor = await this.ctx.commands.latestId();
    if (!(await this.lease.othersLive())) await this.ctx.commands.tidy(this.commandCursor, this.o.clock.now());
    await this.ctx.liveness.startGrace();
    const listen = splitHostPort(this.o.listen ?? this.ctx.config.listen);
    const dash = splitHostPort(this.o.dashboard ?? this.ctx.config.dashboard);
    const gw = await listenOn(this.gateway, listen.host, listen.port);
    const db = await listenOn(this.page, dash.host, dash.port);
    this.tick = this.o.clock.setInterval(() => void this.onTick(), this.o.tickMs ?? 250);
    // A command another process queued wakes the poll at once; the tick still polls (a wake-up may be lost).
    this.unlisten = this.ctx.sql.listen('tw_commands', () => this.jobs.commands.wake());
    this.dashboard.start();
    this.retention.start();
    for (const w of this.workers) w.start();
    this.reportMailer?.start();
    return { gateway: gw, dashboard: db };
  }

  /**
   * One pass of the loop: note the server's own stall, then run each job (renew the lease, apply CLI commands,
   * find overdue hosts, settle floods, checker runs, the rollup) unless its previous pass still runs; resolves
   * when they end. Never rejects. The stall is noted first: after the event loop was blocked, timers run before
   * the sockets are read, so the sweep would otherwise judge hosts whose heartbeats wait unread.
   */
  async onTick(): Promise<void> {
    try {
      const now = this.o.clock.now();
      const handshakesInFlight = this.handshakesInFlight();
      const span = this.stallWatch.sample(now, handshakesInFlight, this.loopUtilization());
      if (span) {
        this.ctx.liveness.noteStall(span);
        if (!this.stalled) this.o.log.warn({ stalledMs: span.to - span.from, handshakesInFlight }, 'server behind (event loop lag or handshake storm): deadlines held meanwhile');
      }
      this.stalled = span !== null;
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'stall check failed');
    }
    await Promise.all(Object.values(this.jobs).map((j) => j.run()));
  }

  /** Applies the CLI commands queued since the last pass (revocations, fresh report requests), then expires old ones. */
  private async applyCommands(): Promise<void> {
    const lateSince = this.ctx.sql.engine === 'postgres' ? this.o.clock.now() - COMMAND_LOOKBACK_MS : null;
    const commands = await this.ctx.commands.after(this.commandCursor, lateSince);
    for (const [id, at] of this.seenCommands) if (at < this.o.clock.now() - 2 * COMMAND_LOOKBACK_MS) this.seenCommands.delete(id);
    for (const c of commands) {
      if (this.seenCommands.has(c.id)) continue;
      this.seenCommands.set(c.id, this.o.clock.now());
      this.commandCursor = Math.max(this.commandCursor, c.id);
      if (c.action === 'close-host' && c.host) {
        const n = this.registry.closeHost(c.host, CloseCode.REVOKED, c.arg ?? 'revoked');
        if (n) this.o.log.info({ host: c.host, why: c.arg }, 'closed live connection');
        await this.ctx.commands.settle(c.id, this.o.clock.now());
      }
      if (c.action === 'close-session' && c.host && c.arg) {
        // The holder judges whether the connection was still live (its last frame time is known only here).
        if (this.registry.supersede(c.host, c.arg, Number(c.createdAt))) {
          this.o.log.info({ host: c.host }, 'closed a connection the agent left for another instance');
        }
        await this.ctx.commands.settle(c.id, this.o.clock.now());
      }
      if (c.action === 'request-report' && c.host) {
        const id = c.id;
        const stored = (at: number) => {
          void (async () => {
            await this.ctx.commands.setResult(id, `stored:${at}`);
          })().catch((err: unknown) => {
            this.o.log.error({ err: (err as Error).message, host: c.host }, 'could not tell accept its fresh report was stored');
          });
        };
        const live = this.registry.requestFresh(c.host, c.arg ?? 'operator asked', stored);
        // Not held here: the instance that holds it answers; `offline` only when no live instance does.
        if (live) await this.ctx.commands.settle(id, this.o.clock.now(), 'sent');
        else if ((await this.lease.otherHolder(c.host)) === null) await this.ctx.commands.settle(id, this.o.clock.now(), 'offline', { ifUnset: true });
      }
    }
    const now = this.o.clock.now();
    if (now - this.lastExpire >= 60_000) {
      this.lastExpire = now;
      await this.ctx.commands.expire(now - 60_000, now);
    }
  }

  /**
   * A tick's write that failed: a full or read-only data dir is logged as its catalogued line (TW_DISK_FULL,
   * TW_DB_READONLY) at most every 10 s, the process staying up; anything else as it came.
   */
  private tickError(err: unknown, what: string): void {
    const fault = storageFault(err, this.ctx.sql.name);
    if (!fault) return this.o.log.error({ err: (err as Error).message }, what);
    const suppressed = this.tickFaults.take(this.o.clock.now());
    if (suppressed !== null) this.o.log.error({ code: fault.code, err: (err as Error).message, suppressed, during: what }, faultLine(fault));
  }

  async stop(): Promise<void> {
    this.o.clock.clearInterval(this.tick);
    this.unlisten?.();
    this.dashboard.stop();
    await this.retention.stop();
    await Promise.all([...this.workers.map((w) => w.stop()), this.reportMailer?.stop()]);
    const live = this.registry.sessions();
    this.registry.closeAll(CloseCode.SHUTTING_DOWN, 'server shutting down');
    await Promise.all([closeServer(this.gateway), closeServer(this.page)]);
    // The database closes last: after the running ticks, and after each session stored its disconnect. A
    // WebSocket's close event may come after the server's close callback (ws waits for its reader to finish),
    // so each session's own close is awaited, not the queue it had then; every socket is closed by now.
    await Promise.all([...Object.values(this.jobs).map((j) => j.idle()), ...live.map((s) => s.ended())]);
    await this.beats.flush();
    try {
      await this.ctx.rollup.flush();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'could not write the heartbeat rollup at stop');
    }
    try {
      await this.lease.stop();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'could not mark the instance stopped');
    }
    await this.ctx.close();
  }
}

/**
 * An async job run from a timer: never two passes at once, a failing pass reported to `onError` (the timer
 * lives on).
 */
class GuardedJob {
  private running: Promise<void> | null = null;
  /** A wake-up came while a pass ran: run once more after it. */
  private again = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts a pass unless one runs; resolves when the running pass ends. */
  run(): Promise<void> {
    this.running ??= this.fn()
      .catch(this.onError)
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          void this.run();
        }
      });
    return this.running;
  }

  /** Runs a pass now, or once more after the running one (a wake-up must not be lost to the guard). */
  wake(): void {
    if (this.running !== null) this.again = true;
    else void this.run();
  }

  /** Resolves once no pass runs. */
  async idle(): Promise<void> {
    for (let r = this.running; r !== null; r = this.running) await r;
  }
}

/** Node's event loop utilisation of this process since the previous call. */
function eventLoopBusy(): () => number {
  let prev: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const cur = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(cur, prev).utilization;
    prev = cur;
    return u;
  };
}

function listenOn(server: HttpServer | HttpsServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A restart brings every agent back at once: a deep accept queue (capped by net.core.somaxconn) spares them SYN retries.
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
