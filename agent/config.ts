import * as z from 'zod';
import { durationField, loadYamlConfig } from '../shared/config-file.ts';

const absPath = z.string().regex(/^\//, 'must be an absolute path');
const serverUrl = z.string().regex(/^wss:\/\/[^/\s]+(:\d{1,5})?\/?$/, 'must be wss://HOST:PORT');

/** The agent config (docs/REFERENCE.md): unknown keys and bad values are errors naming the key. */
export const AgentConfigSchema = z
  .strictObject({
    /** One URL, or several in order of preference (the agent fails over to the next). */
    server: z.union([serverUrl, z.array(serverUrl).min(1, 'must list at least one server').max(16)]),
    stateDir: absPath.default('/var/lib/tripwarden-agent'),
    interval: durationField({ min: 100, max: 86_400_000 }).default(10_000),
    jitter: durationField({ min: 0, max: 3_600_000 }).default(2_000),
    fullScanEvery: durationField({ min: 1_000 }).default(600_000),
    defaults: z.boolean().default(true),
    watch: z
      .array(
        z.strictObject({
          path: absPath,
          recursive: z.boolean().default(false),
          critical: z.boolean().default(false),
        }),
      )
      .default([]),
    daemons: z.array(z.strictObject({ name: z.string().min(1).max(15), exe: absPath })).optional(),
    mounts: z.array(z.strictObject({ path: absPath, expect: z.literal('ro') })).default([]),
    /**
     * Fallback sinks: device paths (/dev/kmsg, /dev/ttyS0, /dev/lp0),
     * /dev/log, `syslog+udp://HOST:PORT`, `syslog+tcp://HOST:PORT`,
     * `syslog+unix:///PATH`, or any other absolute path as an append-only file.
     */
    fallback: z
      .array(
        z
          .string()
          .regex(
            /^(\/.+|syslog\+(udp|tcp):\/\/[^/\s]+:\d{1,5}|syslog\+unix:\/\/\/\S+)$/,
            'must be an absolute path, syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT or syslog+unix:///PATH',
          ),
      )
      .max(16)
      .optional(),
    /** Spool limit in bytes (optional; not a documented key, default 16 MiB): beyond it low-severity records are summarised. */
    spoolMax: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .optional(),
    /** Report listening TCP and bound UDP sockets with their process; the server baselines them. */
    ports: z.boolean().default(true),
    /** How long a new listener must live before it is reported (`0s`: at once): brief listeners are noise. */
    portSettle: durationField({ min: 0, max: 3_600_000 }).default(30_000),
    processTitle: z.string().min(1).max(64).optional(),
    /** The host's own integrity checker (AIDE, Tripwire), run when the server says; at most one of each kind. */
    checkers: z
      .array(
        z.strictObject({
          kind: z.enum(['aide', 'tripwire']),
          config: absPath.max(4096).refine((p) => !p.includes('\0') && !/\/\.\.?(\/|$)/.test(p), 'must be a plain absolute path (no . or .. parts)'),
        }),
      )
      .max(2)
      .refine((l) => new Set(l.map((c) => c.kind)).size === l.length, 'names a kind twice: at most one aide and one tripwire')
      .default([]),
    /** With several servers: how long on another before going back to the first (`0s`: stay). */
    failback: durationField({ min: 0, max: 7 * 86_400_000 }).default(600_000),
  })
  .refine((c) => c.jitter < c.interval, { message: 'jitter must be shorter than interval', path: ['jitter'] });

export type AgentConfig = z.output<typeof AgentConfigSchema>;

/** Loads and validates the agent config file; the result is frozen. */
export function loadAgentConfig(path: string): AgentConfig {
  return loadYamlConfig(AgentConfigSchema, path);
}

/** The configured servers in order of preference (`server` is one URL or a list). */
export function serverUrls(cfg: Pick<AgentConfig, 'server'>): readonly string[] {
  return typeof cfg.server === 'string' ? [cfg.server] : cfg.server;
}

/** Splits the `server` URL into host and port (default 7443). */
export function serverAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 7443 };
}
