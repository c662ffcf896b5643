import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AgentMessage, EventBody } from '../../shared/protocol.ts';
import { writeFilePrivate } from '../../shared/secure-file.ts';
import type { Check, CheckContext } from '../checks/check.ts';
import { CHECKS } from '../checks/registry.ts';
import type { AgentConfig } from '../config.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import { type Hasher, HashPool } from '../hashing/hash-pool.ts';
import type { LinkListener, Unenveloped } from '../link/agent-link.ts';
import type { WatchBackend } from '../watch/backend.ts';
import { FsWatchBackend } from '../watch/fs-watch-backend.ts';
import type { Delta } from './delta.ts';
import { eventFrames, reportFrames } from './frames.ts';
import { Monitor } from './monitor.ts';

/** The file in the state dir holding the state last sent to the server (what `check` compares with). */
export const REPORTED_STATE_FILE = 'reported-state.json';

/** What the checks need of the link: send now, and hear `welcome` and `request-report`. */
export interface LinkLike {
  sendMessage(body: Unenveloped<AgentMessage>): boolean;
  on<E extends 'welcome' | 'request-report'>(ev: E, fn: LinkListener<E>): void;
  readonly isConnected: boolean;
}

export interface AgentChecksOptions {
  cfg: AgentConfig;
  configPath: string;
  clock: Clock;
  log: Logger;
  selfPath?: string;
  hasher?: Hasher;
  /** Where events go: the spool, which appends first and sends when it can. Without it, straight to the link. */
  submit?: (body: EventBody) => void;
}

/** Creates the check context and every registered check (shared by `run` and `check`). */
export async function createChecks(o: AgentChecksOptions, watching: boolean): Promise<{ checks: Check[]; hasher: Hasher; backends: string[] }> {
  const hasher = o.hasher ?? new HashPool();
  // fs.watch alone: one inotify watch per directory, each event handed over as the kernel delivers it. A
  // second, batching backend (@parcel/watcher) beside it cost a thread waking every 500 ms and was never first.
  const fast: WatchBackend | null = watching ? new FsWatchBackend() : null;
  const ctx: CheckContext = { cfg: o.cfg, configPath: o.configPath, log: o.log, clock: o.clock, hasher, watch: { primary: null, fast }, selfPath: o.selfPath };
  const checks = Object.entries(CHECKS).map(([name, make]) => {
    const c = make({ ...ctx, log: o.log.child({ check: name }) });
    return c;
  });
  return { checks, hasher, backends: fast ? [fast.name] : [] };
}

/**
 * The agent's checks bound to its link: changes go out as `event` frames the
 * moment they are measured, the whole state as a `report` at each `welcome`
 * and whenever the server asks, and the heartbeat carries the state digest.
 */
export class AgentChecks {
  monitor!: Monitor;
  private hasher?: Hasher;
  private saveTimer: TimerHandle | undefined;

  constructor(
    private readonly o: AgentChecksOptions,
    private readonly link: LinkLike,
  ) {}

  /** The digest for heartbeats, once the first scan is done. */
  digest(): string | undefined {
    return this.monitor?.ready ? this.monitor.state.digest() : undefined;
  }

  private starting: Promise<void> | undefined;
  /** Settles once the checks are built (the first scan may still run; monitor.stop() ends it). */
  private built: Promise<void> | undefined;
  private stopped = false;

  /** Starts watching and the first full scan; a stop() that comes meanwhile waits for it and undoes it. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const created = createChecks(this.o, true);
    this.built = created.then(
      () => undefined,
      () => undefined,
    );
    const { checks, hasher, backends } = await created;
    this.hasher = hasher;
    // SIGTERM may arrive while the checks are still being built: start nothing then.
    if (this.stopped) return;
    this.monitor = new Monitor({
      checks,
      clock: this.o.clock,
      log: this.o.log,
      intervalMs: null,
      fullScanMs: this.o.cfg.fullScanEvery,
      onDelta: (d) => this.sendDelta(d),
      onScan: (s) => {
        this.o.log.info({ items: s.items, ms: s.ms, first: s.first }, 'full scan done');
        if (s.first) this.sendReport('first scan');
      },
    });
    this.link.on('welcome', () => this.sendReport('connected'));
    this.link.on('request-report', (reason) => this.sendReport(`server asked: ${reason}`));
    this.o.log.info({ backends, checks: checks.map((c) => c.name) }, 'checks starting');
    await this.monitor.start();
  }

  /** One cycle of the cheap checks; the agent's main loop calls it. */
  async cycle(): Promise<void> {
    await this.monitor?.cycle();
  }

  private sendDelta(d: Delta): void {
    if (!this.monitor.ready) return; // the first report carries it
    if (this.o.log.isLevelEnabled('debug')) {
      const items = Object.entries(d).flatMap(([f, v]) => (f === 'notes' ? [] : (v as unknown[]).map((x) => `${f} ${typeof x === 'string' ? x : JSON.stringify(x).slice(0, 80)}`)));
      this.o.log.debug({ items }, 'delta');
    }
    if (this.o.submit) {
      // Durable first: the spool holds each event until the server acknowledged it.
      for (const { type: _type, ...f } of eventFrames(d)) this.o.submit({ kind: 'event', ...f });
      for (const n of d.notes) this.o.log.warn({ kind: n.kind, message: n.message }, 'watch note');
      this.saveReported();
      return;
    }
    let sent = true;
    for (const f of eventFrames(d)) sent = this.link.sendMessage(f) && sent;
    for (const n of d.notes) this.o.log.warn({ kind: n.kind, message: n.message }, 'watch note');
    if (sent) this.saveReported();
    // Not connected: the report sent at the next welcome carries the change.
  }

  sendReport(why: string): void {
    if (!this.monitor?.ready || !this.link.isConnected) return;
    const frames = reportFrames(this.monitor.state);
    let ok = true;
    for (const f of frames) ok = this.link.sendMessage(f) && ok;
    this.o.log.info({ why, parts: frames.length, items: this.monitor.state.size }, 'report sent');
    if (ok) this.saveReported();
  }

  /** Keeps the reported state in the state dir (0600) for `check`, written at most once a second. */
  private saveReported(): void {
    if (this.saveTimer) return;
    this.saveTimer = this.o.clock.setTimeout(
      () =>
        cpuLedger.run('reported-state write', () => {
          this.saveTimer = undefined;
          try {
            writeFilePrivate(join(this.o.cfg.stateDir, REPORTED_STATE_FILE), JSON.stringify(this.monitor.state.toJSON()));
          } catch (err) {
            this.o.log.warn({ err: (err as Error).message }, 'cannot save the reported state');
          }
        }),
      1000,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.built;
    if (this.saveTimer) {
      this.o.clock.clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      try {
        writeFilePrivate(join(this.o.cfg.stateDir, REPORTED_STATE_FILE), JSON.stringify(this.monitor.state.toJSON()));
      } catch {
        /* best effort */
      }
    }
    await this.monitor?.stop();
    await this.hasher?.close();
  }
}
