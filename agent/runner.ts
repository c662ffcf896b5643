import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { hostFacts } from './host-facts.ts';
import { AgentLink } from './link.ts';
import { hashFileSync } from './hash-file.ts';
import { loadIdentity } from './state-files.ts';
import { createSystemdNotifier, type SystemdNotifier } from './systemd-notify.ts';
import { AgentChecks } from './checks/agent-checks.ts';
import type { ParcelApi } from './watch/parcel-backend.ts';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { serverAddress } from './config.ts';
import { buildWatchSet } from './checks/watch-set.ts';
import { Spool } from './spool/spool.ts';
import { SpoolSender } from './spool/spool-sender.ts';
import { FallbackWriter, defaultFallback } from './fallback/fallback-writer.ts';
import { NetworkWatch, type NetworkWatchOptions } from './network/network-watch.ts';

export interface RunOptions {
  configPath: string;
  clock: Clock;
  log: Logger;
  /** Defaults to a notifier on the process environment (a no-op outside systemd). */
  notifier?: SystemdNotifier;
  /** The @parcel/watcher API to watch with (undefined: import it; null: fs.watch only). */
  parcel?: ParcelApi | null;
  /** Overrides for the network watch (tests remove routes through an injected route source). */
  network?: Partial<Pick<NetworkWatchOptions, 'routes' | 'linkUp' | 'resolve'>>;
}

/** Work done once per cycle of the main loop (the checks join here). */
export type CycleTask = () => Promise<void> | void;

/** A running agent: its link to the server and its main loop. */
export interface RunningAgent {
  config: AgentConfig;
  link: AgentLink;
  /** Files, daemons, mounts (issue 3). */
  checks: AgentChecks;
  /** The spool every event and local finding goes through (issue 4). */
  spool: SpoolSender;
  network: NetworkWatch;
  fallback: FallbackWriter;
  /** Adds work to every cycle of the main loop. */
  addCycleTask(task: CycleTask): void;
  stop(reason: string): Promise<void>;
}

/**
 * Hashes the running executable (the compiled agent, or Node under tsx) for
 * `hello`; a replaced or patched agent then shows even if it moved elsewhere.
 */
function ownExecutableHash(log: Logger): string | undefined {
  try {
    // The image this process runs (/proc/self/exe follows it even after a rename over the path), not whatever
    // the path holds by now: the server compares the file at the path in the first report with it.
    return hashFileSync('/proc/self/exe', { follow: true }).sha256;
  } catch {
    try {
      return hashFileSync(process.execPath).sha256;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot hash own executable');
      return undefined;
    }
  }
}

/**
 * Starts the daemon: loads config and identity, disguises the process title,
 * connects, and runs the main loop. The loop is re-armed only after a cycle
 * finishes and pings the systemd watchdog at its end, so a hung cycle stops
 * the pings and systemd restarts the agent.
 */
export function startAgent(o: RunOptions): RunningAgent {
  const cfg = loadAgentConfig(o.configPath);
  const identity = loadIdentity(cfg.stateDir);
  if (cfg.processTitle) process.title = cfg.processTitle;
  if (process.env.NODE_OPTIONS) o.log.warn('NODE_OPTIONS is set: it can inject code into the agent; unset it in the service unit');
  const notifier = o.notifier ?? createSystemdNotifier({ onError: (m) => o.log.warn(m) });
  const link: AgentLink = new AgentLink({
    url: cfg.server, identity, clock: o.clock, log: o.log.child({ component: 'link' }),
    intervalMs: cfg.interval, jitterMs: cfg.jitter, agentVersion: VERSION, facts: () => hostFacts(),
    digest: (): string | undefined => checks.digest(),
    exeSha256: ownExecutableHash(o.log), exePath: process.execPath,
    spoolHead: () => sender.head(),
  });
  // The spool (issue 4): every event and local finding is appended (fsync'd)
  // before it is sent, and leaves the spool only on the server's ack.
  const spoolLog = o.log.child({ component: 'spool' });
  const spool = new Spool({ dir: cfg.stateDir, log: spoolLog, maxBytes: cfg.spoolMax, origin: () => sender.origin() });
  const fallback = new FallbackWriter({
    specs: cfg.fallback ?? defaultFallback(), log: o.log.child({ component: 'fallback' }), host: certHost(identity.certPem),
    // Told to the server as a watch note, once, through the spool: it arrives when the link returns.
    onSinkFailed: (spec, message) => queueMicrotask(() => sender.submit({
      kind: 'event', files: [], gone: [], daemons: [], mounts: [], notes: [{ kind: 'sink-error', message: `fallback ${spec}: ${message}`.slice(0, 300) }],
    })),
  });
  let critical: ((p: string) => boolean) | null = null;
  const criticalPath = (p: string): boolean => {
    if (!critical) {
      const targets = buildWatchSet(cfg, o.configPath).filter((t) => t.class !== 'normal');
      critical = (x) => targets.some((t) => x === t.path || (t.dir && x.startsWith(t.path.endsWith('/') ? t.path : t.path + '/')));
    }
    return critical(p);
  };
  const network: NetworkWatch = new NetworkWatch({
    serverHost: serverAddress(cfg.server).host, intervalMs: cfg.interval, clock: o.clock, log: o.log.child({ component: 'network' }),
    disconnectedSince: () => link.disconnectedSince, stateFile: join(cfg.stateDir, 'network-lost.json'),
    onLost: (startedAt, reasons) => void sender.submit({ kind: 'network-lost', startedAt, endedAt: null, reasons }),
    onRestored: (startedAt, endedAt, reasons) => void sender.submit({ kind: 'network-lost', startedAt, endedAt, reasons }),
    ...o.network,
  });
  const sender: SpoolSender = new SpoolSender(spool, link, {
    clock: o.clock, log: spoolLog, criticalPath,
    // Findings made while the server cannot hear them go at once to the fallback devices too.
    onAppended: (rec, online) => { if (!online || network.isLost) fallback.writeRecord(rec); },
  });
  // Checks (issue 3): measured here, judged on the server. Real-time events and
  // full scans run on their own; the cheap checks (daemons, mounts) ride the main loop.
  const checks: AgentChecks = new AgentChecks({
    cfg, configPath: o.configPath, clock: o.clock, log: o.log.child({ component: 'checks' }), parcel: o.parcel,
    submit: (body) => void sender.submit(body),
  }, link);
  const tasks: CycleTask[] = [() => checks.cycle(), () => network.check()];
  const cycleMs = Math.min(cfg.interval, notifier.watchdogIntervalMs() ?? Infinity);
  let timer: TimerHandle | undefined;
  let stopped = false;
  const cycle = async () => {
    for (const task of tasks) {
      try {
        await task();
      } catch (err) {
        o.log.error({ err: (err as Error).message }, 'cycle task failed; carrying on');
      }
    }
    notifier.watchdog();
    if (!stopped) timer = o.clock.setTimeout(() => void cycle(), cycleMs);
  };
  link.start();
  checks.start().catch((err: Error) => o.log.error({ err: err.message }, 'checks failed to start'));
  notifier.ready();
  timer = o.clock.setTimeout(() => void cycle(), cycleMs);
  return {
    config: cfg,
    link,
    checks,
    spool: sender,
    network,
    fallback,
    addCycleTask: (t) => tasks.push(t),
    stop: async (reason) => {
      stopped = true;
      o.clock.clearTimeout(timer);
      await checks.stop();
      await link.stop(reason);
      fallback.close();
      spool.close();
    },
  };
}

/** The host name in the agent's certificate (the identity the server knows it by). */
function certHost(certPem: string): string {
  try {
    return /CN=([^\n,]+)/.exec(new X509Certificate(certPem).subject)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
