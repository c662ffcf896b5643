import { arch, hostname, release, type, uptime } from 'node:os';
import type { HostFacts } from '../../shared/protocol.ts';

/** Facts about this host for `hello`. `NODE_OPTIONS` is reported because it can inject code into the agent. */
export function hostFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  return {
    hostname: hostname().slice(0, 255),
    os: type().slice(0, 64),
    release: release().slice(0, 128),
    arch: arch(),
    runtime: `node ${process.version}`,
    uptimeSec: Math.floor(uptime()),
    ...(env.NODE_OPTIONS ? { nodeOptions: env.NODE_OPTIONS.slice(0, 1024) } : {}),
  };
}
