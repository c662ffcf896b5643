import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { loadAgentConfig } from './config.ts';
import { hostFacts } from './host-facts.ts';
import { AgentLink } from './link.ts';
import { loadIdentity } from './state-files.ts';

export interface RunOptions {
  configPath: string;
  clock: Clock;
  log: Logger;
}

/** A running agent: its link to the server (checks join here in later slices). */
export interface RunningAgent {
  link: AgentLink;
  stop(reason: string): Promise<void>;
}

/** Starts the daemon: loads config and identity, disguises the process title, connects. */
export function startAgent(o: RunOptions): RunningAgent {
  const cfg = loadAgentConfig(o.configPath);
  const identity = loadIdentity(cfg.stateDir);
  if (cfg.processTitle) process.title = cfg.processTitle;
  if (process.env.NODE_OPTIONS) o.log.warn('NODE_OPTIONS is set: it can inject code into the agent; unset it in the service unit');
  const link = new AgentLink({
    url: cfg.server, identity, clock: o.clock, log: o.log.child({ component: 'link' }),
    intervalMs: cfg.interval, jitterMs: cfg.jitter, agentVersion: VERSION, facts: () => hostFacts(),
  });
  link.start();
  return { link, stop: (reason) => link.stop(reason) };
}
