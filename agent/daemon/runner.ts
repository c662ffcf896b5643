import { X509Certificate } from 'node:crypto';
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { EventBody, FileEntry, SpoolRecord } from '../../shared/protocol.ts';
import { writeFilePrivate } from '../../shared/secure-file.ts';
import { VERSION } from '../../shared/version.ts';
import { CheckerRunner } from '../checker/checker-runner.ts';
import { guardCheckerFiles } from '../checker/guard-checker-files.ts';
import { buildWatchSet, type WatchTarget } from '../checks/files/watch-set.ts';
import { type AgentConfig, loadAgentConfig, serverAddress, serverUrls } from '../config.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import { defaultFallback, FallbackWriter } from '../fallback/fallback-writer.ts';
import { hashFile } from '../hashing/hash-file.ts';
import { loadIdentity } from '../identity/state-files.ts';
import { AgentLink } from '../link/agent-link.ts';
import { hostFacts } from '../link/host-facts.ts';
import { AgentChecks } from '../monitor/check-runner.ts';
import { NetworkWatch, type NetworkWatchOptions } from '../network/network-watch.ts';
import { Spool } from '../spool/spool.ts';
import { SpoolSender } from '../spool/spool-sender.ts';
import { createSystemdNotifier, type SystemdNotifier } from './systemd-notify.ts';

export interface RunOptions {
  configPath: string;
  clock: Clock;
  log: Logger;
  /** Defaults to a notifier on the process environment (a no-op outside systemd). */
  notifier?: SystemdNotifier;
  /** Overrides for the network watch (tests remove routes through an injected route source). */
  network?: Partial<Pick<NetworkWatchOptions, 'routes' | 'linkUp' | 'resolve'>>;
}

/** Longest wait for the server's welcome before the checks start anyway. */
export const CHECKS_START_WAIT_MS = 1000;

/** Work done once per cycle of the main loop (the checks join here). */
export type CycleTask = () => Promise<void> | void;

/** A running agent: its link to the server and its main loop. */
export interface RunningAgent {
  config: AgentConfig;
  link: AgentLink;
  /** Files, daemons, mounts. */
  checks: AgentChecks;
  /** Runs the configured integrity checker when the server asks. */
  checker: CheckerRunner;
  /** The spool every event and local finding goes through. */
  spool: SpoolSender;
  network: NetworkWatch;
  fallback: FallbackWriter;
  /** Adds work to every cycle of the main loop. */
  addCycleTask(task: CycleTask): void;
  stop(reason: string): Promise<void>;
}

/** The file in the state dir caching the executable's hash by file identity. */
export const EXE_HASH_FILE = 'exe-sha256.json';

/**
 * Hashes the running executable (the compiled agent, or Node under tsx) for
 * `hello`; a replaced or patched agent then shows even if it moved elsewhere.
 * Read with asynchronous 1 MiB reads (libuv's pool) and hashed between them,
 * so the TLS handshake progresses while the ~105 MiB of the compiled agent
 * (~90 ms) are hashed, instead of waiting for it. The result is kept in the state dir by file identity (device,
 * inode, size, mtime and ctime in ns) and reused while that is unchanged:
 * replacing or rewriting the file changes it. This weakens nothing: the
 * first full scan hashes the executable again (a `self` file) and the server
 * compares that with the baseline, and a patched agent could report any hash.
 */
async function ownExecutableHash(stateDir: string, log: Logger): Promise<string | undefined> {
  const exe = process.execPath;
  const cacheFile = join(stateDir, EXE_HASH_FILE);
  const identity = (p: string) => {
    const st = statSync(p, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  };
  const hashOf = async (p: string, follow: boolean): Promise<string> => {
    const id = identity(p);
    try {
      const c = JSON.parse(readFileSync(cacheFile, 'utf8')) as { path?: unknown; id?: unknown; sha256?: unknown };
      if (c.path === exe && c.id === id && typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256)) return c.sha256;
    } catch {
      /* none yet, or unreadable: hash */
    }
    const { sha256 } = await hashFile(p, { follow });
    if (identity(p) === id) {
      try {
        writeFilePrivate(cacheFile, JSON.stringify({ path: exe, id, sha256 }));
      } catch {
        /* a cache only */
      }
    }
    return sha256;
  };
  try {
    // The image this process runs (/proc/self/exe follows it even after a rename over the path), not whatever
    // the path holds by now: the server compares the file at the path in the first report with it. The cache
    // is keyed by that image's identity too, so a file renamed over the path is not taken for the running one.
    return await hashOf('/proc/self/exe', true);
  } catch {
    try {
      return await hashOf(exe, false);
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
  // The host's own integrity checker: runs when the server asks, its results spooled like any finding.
  const checker: CheckerRunner = new CheckerRunner({
    checkers: cfg.checkers,
    submit: (body) => sender.submit(body),
    clock: o.clock,
    log: o.log.child({ component: 'checker' }),
  });
  // Its files are guarded, critical, whatever `defaults` says.
  const guarded = guardCheckerFiles(cfg, checker.files());
  const identity = loadIdentity(cfg.stateDir);
  if (cfg.processTitle) process.title = cfg.processTitle;
  if (process.env.NODE_OPTIONS) o.log.warn('NODE_OPTIONS is set: it can inject code into the agent; unset it in the service unit');
  const notifier = o.notifier ?? createSystemdNotifier({ clock: o.clock, onError: (m) => o.log.warn(m) });
  const link: AgentLink = new AgentLink({
    url: serverUrls(cfg),
    failbackMs: cfg.failback,
    identity,
    clock: o.clock,
    log: o.log.child({ component: 'link' }),
    intervalMs: cfg.interval,
    jitterMs: cfg.jitter,
    agentVersion: VERSION,
    facts: () => hostFacts(),
    digest: (): string | undefined => checks.digest(),
    exeSha256: ownExecutableHash(cfg.stateDir, o.log),
    exePath: process.execPath,
    spoolHead: () => sender.head(),
    checkers: () => checker.declarations(),
  });
  link.on('run-checker', (m) => void checker.handle(m));
  // The spool: every event and local finding is appended (fsync'd)
  // before it is sent, and leaves the spool only on the server's ack.
  const spoolLog = o.log.child({ component: 'spool' });
  const spool = new Spool({
    dir: cfg.stateDir,
    log: spoolLog,
    maxBytes: cfg.spoolMax,
    origin: () => sender.origin(),
    // Out of the spool's own call stack: the report goes through the spool.
    onTampered: (paths, why) => queueMicrotask(() => void sender.submit(stateTamperedEvent(paths, why))),
  });
  const fallback = new FallbackWriter({
    specs: cfg.fallback ?? defaultFallback(),
    log: o.log.child({ component: 'fallback' }),
    host: certHost(identity.certPem),
    // Told to the server as a watch note, once, through the spool: it arrives when the link returns.
    onSinkFailed: (spec, message) =>
      queueMicrotask(() =>
        sender.submit({
          kind: 'event',
          files: [],
          gone: [],
          daemons: [],
          mounts: [],
          notes: [{ kind: 'sink-error', message: `fallback ${spec}: ${message}`.slice(0, 300) }],
        }),
      ),
  });
  let critical: ((p: string) => boolean) | null = null;
  let self: ((p: string) => boolean) | null = null;
  const inTargets = (targets: WatchTarget[]) => (x: string) => targets.some((t) => x === t.path || (t.dir && x.startsWith(t.path.endsWith('/') ? t.path : `${t.path}/`)));
  const criticalPath = (p: string): boolean => {
    if (!critical) critical = inTargets(buildWatchSet(guarded, o.configPath).filter((t) => t.class !== 'normal'));
    return critical(p);
  };
  const selfPath = (p: string): boolean => {
    if (!self) self = inTargets(buildWatchSet(guarded, o.configPath).filter((t) => t.class === 'self'));
    return self(p);
  };
  const network: NetworkWatch = new NetworkWatch({
    serverHost: () => serverAddress(link.serverUrl).host,
    intervalMs: cfg.interval,
    clock: o.clock,
    log: o.log.child({ component: 'network' }),
    disconnectedSince: () => link.disconnectedSince,
    unansweredSince: () => link.unansweredSince,
    stateFile: join(cfg.stateDir, 'network-lost.json'),
    onLost: (startedAt, reasons) => {
      // A link that stopped answering took findings as if online: the fallback devices get those now.
      if (link.isConnected) for (const rec of sender.unheard()) fallback.writeRecord(rec);
      sender.submit({ kind: 'network-lost', startedAt, endedAt: null, reasons });
    },
    onRestored: (startedAt, endedAt, reasons) => void sender.submit({ kind: 'network-lost', startedAt, endedAt, reasons }),
    ...o.network,
  });
  const sender: SpoolSender = new SpoolSender(spool, link, {
    clock: o.clock,
    log: spoolLog,
    criticalPath,
    // Findings made while the server cannot hear them go at once to the fallback devices too, and so does
    // any touch of the agent's own files: an intruder there may be about to silence the link as well.
    onAppended: (rec, online) => {
      if (!online || network.isLost || touchesSelf(rec, selfPath)) fallback.writeRecord(rec);
    },
  });
  // Checks: measured here, judged on the server. Real-time events and
  // full scans run on their own; the cheap checks (daemons, mounts) ride the main loop.
  const checks: AgentChecks = new AgentChecks(
    {
      cfg: guarded,
      configPath: o.configPath,
      clock: o.clock,
      log: o.log.child({ component: 'checks' }),
      submit: (body) => void sender.submit(body),
    },
    link,
  );
  // Named for the CPU ledger.
  const tasks: { name: string; run: CycleTask }[] = [
    { name: 'cycle: spool retry', run: () => sender.retry() },
    { name: 'cycle: spool ensure', run: () => spool.ensure() },
    { name: 'cycle: checks', run: () => checks.cycle() },
    { name: 'cycle: network', run: () => network.check() },
  ];
  // At debug level the main thread's CPU is apportioned by piece of work and logged every 30 s (`cpu ledger`).
  let ledgerAt = o.clock.now();
  if (o.log.isLevelEnabled('debug')) cpuLedger.start(ledgerAt);
  const cycleMs = Math.min(cfg.interval, notifier.watchdogIntervalMs() ?? Infinity);
  let timer: TimerHandle | undefined;
  let stopped = false;
  const cycle = async () => {
    for (const task of tasks) {
      try {
        await cpuLedger.run(task.name, task.run);
      } catch (err) {
        o.log.error({ err: (err as Error).message }, 'cycle task failed; carrying on');
      }
    }
    notifier.watchdog();
    if (cpuLedger.enabled && o.clock.now() - ledgerAt >= 30_000) {
      ledgerAt = o.clock.now();
      o.log.debug(cpuLedger.take(ledgerAt), 'cpu ledger');
    }
    if (!stopped) timer = o.clock.setTimeout(() => void cycle(), cycleMs);
  };
  // The checks (subscriptions, first full scan) start once the
  // server has welcomed the agent, or a connection attempt failed, or after
  // CHECKS_START_WAIT_MS: their start-up work on the main thread would
  // otherwise delay the handshake and `hello` (first contact).
  let checksStarted = false;
  const startChecks = () => {
    if (checksStarted || stopped) return;
    checksStarted = true;
    o.clock.clearTimeout(checksTimer);
    checks.start().catch((err: Error) => o.log.error({ err: err.message }, 'checks failed to start'));
  };
  link.on('welcome', startChecks);
  link.on('closed', startChecks);
  const checksTimer = o.clock.setTimeout(startChecks, CHECKS_START_WAIT_MS);
  link.start();
  notifier.ready();
  timer = o.clock.setTimeout(() => void cycle(), cycleMs);
  return {
    config: cfg,
    link,
    checks,
    checker,
    spool: sender,
    network,
    fallback,
    addCycleTask: (t) => tasks.push({ name: 'cycle: added task', run: t }),
    stop: async (reason) => {
      stopped = true;
      o.clock.clearTimeout(timer);
      o.clock.clearTimeout(checksTimer);
      await checks.stop();
      await checker.stop();
      await link.stop(reason);
      fallback.close();
      spool.close();
    },
  };
}

/**
 * The finding for spool files deleted or replaced under the running agent: each path as one of the agent's
 * own (`self`) files, measured as recreated. The server has no baseline for them, so it opens `file-added`
 * and `agent-tampered` naming the path; the note says what happened.
 */
export function stateTamperedEvent(paths: string[], why: string): EventBody {
  const files: FileEntry[] = [];
  for (const path of paths) {
    try {
      const st = lstatSync(path, { bigint: true });
      files.push({
        path,
        class: 'self',
        type: 'file',
        size: Number(st.size),
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        ino: String(st.ino),
        nlink: Number(st.nlink),
        mtime: String(st.mtimeNs),
        ctime: String(st.ctimeNs),
        error: why.slice(0, 200),
      });
    } catch {
      /* gone again: the note still names it */
    }
  }
  const notes = paths.slice(0, 16).map((p) => ({ kind: 'watcher-error' as const, message: `${p}: ${why}`.slice(0, 300) }));
  return { kind: 'event', files, gone: [], daemons: [], mounts: [], notes };
}

/** Whether a record reports one of the agent's own files (changed, added or gone). */
function touchesSelf(rec: SpoolRecord, selfPath: (p: string) => boolean): boolean {
  const b = rec.body;
  return b.kind === 'event' && (b.files.some((f) => f.class === 'self') || b.gone.some(selfPath));
}

/** The host name in the agent's certificate (the identity the server knows it by). */
function certHost(certPem: string): string {
  try {
    return /CN=([^\n,]+)/.exec(new X509Certificate(certPem).subject)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
