import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { loadAgentConfig, type AgentConfig } from './config.ts';
import { hostFacts } from './host-facts.ts';
import { AgentLink } from './link.ts';
import { loadIdentity } from './state-files.ts';
import { createSystemdNotifier, type SystemdNotifier } from './systemd-notify.ts';

export interface RunOptions {
  configPath: string;
  clock: Clock;
  log: Logger;
  /** Defaults to a notifier on the process environment (a no-op outside systemd). */
  notifier?: SystemdNotifier;
}

/** Work done once per cycle of the main loop (the checks join here). */
export type CycleTask = () => Promise<void> | void;

/** A running agent: its link to the server and its main loop. */
export interface RunningAgent {
  config: AgentConfig;
  link: AgentLink;
  /** Adds work to every cycle of the main loop. */
  addCycleTask(task: CycleTask): void;
  stop(reason: string): Promise<void>;
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
  const link = new AgentLink({
    url: cfg.server, identity, clock: o.clock, log: o.log.child({ component: 'link' }),
    intervalMs: cfg.interval, jitterMs: cfg.jitter, agentVersion: VERSION, facts: () => hostFacts(),
  });
  const tasks: CycleTask[] = [];
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
  notifier.ready();
  timer = o.clock.setTimeout(() => void cycle(), cycleMs);
  return {
    config: cfg,
    link,
    addCycleTask: (t) => tasks.push(t),
    stop: async (reason) => {
      stopped = true;
      o.clock.clearTimeout(timer);
      await link.stop(reason);
    },
  };
}
