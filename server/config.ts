import { hostname } from 'node:os';
import { stringify } from 'yaml';
import * as z from 'zod';
import { durationField, loadYamlConfig } from '../shared/config-file.ts';
import { GROUP_NAME } from './fleet/fleet-membership.ts';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'must be HOST:PORT');

/** `HH:MM-HH:MM`, local time; the end may be earlier than the start (the window crosses midnight). */
const checkerWindow = z
  .string({ error: 'must be HH:MM-HH:MM, e.g. 01:00-05:00' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM-HH:MM (24 h, local time), e.g. 01:00-05:00')
  .refine((w) => w.slice(0, 5) !== w.slice(6), 'must not start and end at the same minute');

/** One mail address (`user@domain`), no display name nor list: each recipient is its own entry. */
const mailAddress = z.string().regex(/^[^\s@<>,;"]+@[^\s@<>,;"]+$/, 'must be a mail address, user@domain');

/** A map from group name (as `group HOST G` accepts) to that group's recipients. */
function groupMap<T extends z.ZodType>(value: T) {
  return z.record(z.string(), value).superRefine((groups, ctx) => {
    for (const g of Object.keys(groups)) {
      if (!GROUP_NAME.test(g)) ctx.addIssue({ code: 'custom', path: [g], message: 'is not a group name as `group HOST G` accepts (1-64 letters, digits, _ . -)' });
    }
  });
}

const SmtpConfig = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(587),
  secure: z.boolean().default(false),
  user: z.string().optional(),
  passwordFile: z.string().optional(),
  from: z.string().min(3),
  to: z.string().min(3),
  /** Per group, addresses that also get the alarms of that group's hosts (`to` gets every alarm). */
  groups: groupMap(z.union([mailAddress.transform((a) => [a]), z.array(mailAddress).min(1, 'must list at least one address')])).default({}),
});

const SyslogConfig = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(514),
  protocol: z.enum(['udp', 'tcp']).default('udp'),
});

const webhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** A group's own webhook: its URL and secret; the timeout defaults to the main webhook's. */
const GroupWebhookConfig = z.strictObject({
  url: webhookUrl,
  secretFile: z.string().min(1),
  timeout: durationField({ min: 100, max: 300_000 }).optional(),
});

const WebhookConfig = z.strictObject({
  url: webhookUrl,
  secretFile: z.string().min(1),
  timeout: durationField({ min: 100, max: 300_000 }).default(10_000),
  /** Per group, an endpoint that also gets the alarms of that group's hosts (`url` gets every alarm). */
  groups: groupMap(GroupWebhookConfig).default({}),
});

/** `remind`: 0 turns reminders off; otherwise at least a minute. */
const remindField = durationField({ max: 365 * 86_400_000 }).refine((ms) => ms === 0 || ms >= 60_000, 'must be 0s (off) or at least 1m');

/** `D/server.yml`: every key with its default (docs/REFERENCE.md, server config). */
export const ServerConfigSchema = z.strictObject({
  listen: hostPort.default('0.0.0.0:7443'),
  dashboard: hostPort.default('127.0.0.1:7080'),
  grace: durationField({ min: 0, max: 86_400_000 }).default(5_000),
  maxInterval: durationField({ min: 100, max: 86_400_000 }).default(300_000),
  smtp: SmtpConfig.nullable().default(null),
  syslog: SyslogConfig.nullable().default(null),
  webhook: WebhookConfig.nullable().default(null),
  retention: durationField({ min: 3_600_000 }).default(30 * 86_400_000),
  /** A critical alarm still open and not acknowledged this long after it opened is sent again, and every `remind` after; 0: never. */
  remind: remindField.default(86_400_000),
  /** When each host's checker (AIDE, Tripwire) runs, once a day at a random moment inside it. */
  checkerWindow: checkerWindow.default('01:00-05:00'),
  /** How long after its window a run may still report before it is `missed`; also the agent's kill timeout. */
  checkerTimeout: durationField({ min: 60_000, max: 86_400_000 }).default(2 * 3_600_000),
  /**
   * Absent: the embedded SQLite file in the data dir. An absolute path: a SQLite file on this host that
   * several `serve` instances share (`init --join`). `postgres://...`: planned, refused for now.
   */
  database: z
    .string()
    .regex(/^(\/\S.*|postgres(ql)?:\/\/\S+)$/, 'must be an absolute path to a SQLite file or postgres://...')
    .optional(),
  /** This instance's name among those sharing the database (default the host name). */
  instance: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, dots, dashes or underscores')
    .default(() => defaultInstanceName()),
});

export type ServerConfig = z.output<typeof ServerConfigSchema>;

/** This host's name as an instance name: characters outside the allowed ones become dashes. */
export function defaultInstanceName(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 63) || 'tripwarden'
  );
}

/** The text `init` writes: every default spelled out, so an operator sees what can be set. */
export function defaultServerConfigText(listen: string, o: { instance?: string; database?: string } = {}): string {
  const doc = {
    ...(o.database ? { database: o.database } : {}),
    instance: o.instance ?? defaultInstanceName(),
    listen,
    dashboard: '127.0.0.1:7080',
    grace: '5s',
    maxInterval: '5m',
    smtp: null,
    syslog: null,
    webhook: null,
    retention: '30d',
    remind: '24h',
    checkerWindow: '01:00-05:00',
    checkerTimeout: '2h',
  };
  return [
    '# Tripwarden server config. `serve` reads it; its flags override it.',
    '# smtp example: { host: mail.example, port: 587, secure: false, user: tw, passwordFile: /etc/tw/smtp-pass, from: tripwarden@example, to: security@example }',
    '# syslog example: { host: 127.0.0.1, port: 514, protocol: udp }',
    '# database: absent for the SQLite file in this dir; an absolute path to share one with another serve on this host (init --join)',
    '# webhook example: { url: https://hooks.example/tripwarden, secretFile: /etc/tw/webhook-secret, timeout: 10s }',
    '# per group, in addition to the above: smtp.groups: { web: [web-team@example] }; webhook.groups: { web: { url: https://hooks.example/web, secretFile: /etc/tw/web-secret } }',
    '# remind: a critical alarm still open and not acked is sent again this long after it opened, and every remind after; 0s: never',
    stringify(doc).trimEnd(),
    '',
  ].join('\n');
}

/** Loads and validates `server.yml`. */
export function loadServerConfig(path: string): ServerConfig {
  return loadYamlConfig(ServerConfigSchema, path);
}

/** Splits `HOST:PORT` (IPv6 in brackets) into its parts. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}
