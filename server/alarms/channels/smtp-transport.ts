import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { ServerConfig } from '../../config.ts';
import { DeliveryError } from './channel.ts';

/** The `smtp:` block of server.yml, as one transport needs it (the per-group recipients are optional). */
export type SmtpConfig = Omit<NonNullable<ServerConfig['smtp']>, 'groups'> & Partial<Pick<NonNullable<ServerConfig['smtp']>, 'groups'>>;

/** Extra transport options for tests and special peers (e.g. `ignoreTLS` towards a local test peer). */
export type SmtpOverrides = Partial<SMTPTransport.Options>;

/**
 * Creates the nodemailer transport from `smtp:`. `secure: true` is TLS from
 * the first byte (port 465); otherwise STARTTLS is used when offered. The
 * password is read from `passwordFile` once, here, and never logged.
 */
export function createSmtpTransport(cfg: SmtpConfig, overrides: SmtpOverrides = {}): Transporter<SMTPTransport.SentMessageInfo> {
  let pass: string | undefined;
  if (cfg.passwordFile) {
    try {
      pass = readFileSync(cfg.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Error(`smtp.passwordFile: cannot read ${cfg.passwordFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    auth: cfg.user ? { user: cfg.user, pass } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    ...overrides,
  });
}

/**
 * Turns a nodemailer error into a {@link DeliveryError} that says whether a
 * retry can help. A 5xx reply to the envelope or the message (recipient
 * refused, message too big) is permanent; a peer that is down, slow, or
 * answers 4xx is transient. A failed login is treated as transient on
 * purpose: it is fixed in the config, and the alarms must still go out then.
 */
export function classifySmtpError(err: unknown): DeliveryError {
  const e = err as { code?: string; responseCode?: number; message?: string };
  const msg = String(e.message ?? err).split('\n')[0]!;
  if (e.code === 'EAUTH') return new DeliveryError(`SMTP login refused (check smtp.user and smtp.passwordFile): ${msg}`, false);
  const rc = typeof e.responseCode === 'number' ? e.responseCode : 0;
  if (rc >= 500 && rc < 600) return new DeliveryError(`SMTP refused the message for good (${rc}): ${msg}`, true);
  if (e.code === 'EENVELOPE' && rc === 0) return new DeliveryError(`bad envelope (check smtp.from and smtp.to): ${msg}`, true);
  return new DeliveryError(`SMTP unavailable (${e.code ?? (rc || 'error')}): ${msg}`, false);
}
