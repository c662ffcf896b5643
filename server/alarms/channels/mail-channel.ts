import { hostname } from 'node:os';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { AlarmChannel, AlarmNotice, Sent } from './channel.ts';
import { formatDigestMail, formatNoticeMail, type MailText } from './mail-format.ts';
import { classifySmtpError, createSmtpTransport, type SmtpConfig, type SmtpOverrides } from './smtp-transport.ts';

export interface MailChannelOptions {
  smtp: SmtpConfig;
  /** The server data dir, quoted in the command lines a mail suggests. */
  dir: string;
  /** Messages per minute before a storm becomes digests. */
  perMinute?: number;
  digestIntervalMs?: number;
  transportOverrides?: SmtpOverrides;
  /** A group's recipients (`smtp.groups`): this channel then mails only that group's alarms, to `to`. */
  group?: string;
  /** The recipients, when not the security address `smtp.to`. */
  to?: readonly string[];
}

/**
 * Alarm mail over SMTP with nodemailer: to the security address (`smtp.to`, every alarm), or, as
 * `mail:GROUP`, to a group's addresses (`smtp.groups`, the alarms of that group's hosts).
 */
export class MailChannel implements AlarmChannel {
  readonly name: string;
  readonly group?: string;
  readonly batching: { perMinute: number; digestIntervalMs: number };
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly o: MailChannelOptions) {
    this.name = o.group === undefined ? 'mail' : `mail:${o.group}`;
    this.group = o.group;
    this.batching = { perMinute: o.perMinute ?? 10, digestIntervalMs: o.digestIntervalMs ?? 60_000 };
    this.transport = createSmtpTransport(o.smtp, o.transportOverrides);
  }

  /** Where this channel's mail goes. */
  get recipients(): string {
    return this.o.to ? this.o.to.join(', ') : this.o.smtp.to;
  }

  send(n: AlarmNotice): Promise<Sent> {
    return this.mail(formatNoticeMail(n, this.o.dir), { 'X-Tripwarden-Alarm': String(n.alarmId), 'X-Tripwarden-Action': n.action });
  }

  sendDigest(ns: AlarmNotice[]): Promise<Sent> {
    return this.mail(formatDigestMail(ns, this.o.dir), { 'X-Tripwarden-Digest': String(ns.length) });
  }

  /** Sends any text mail (the daily report, `test-mail`) to this channel's recipients. */
  async mail(m: MailText, headers: Record<string, string> = {}): Promise<Sent> {
    try {
      const info = await this.transport.sendMail({
        from: this.o.smtp.from,
        to: this.o.to ? [...this.o.to] : this.o.smtp.to,
        subject: m.subject,
        text: m.text,
        headers: { 'X-Tripwarden-Server': hostname(), ...headers },
      });
      return { messageId: info.messageId };
    } catch (err) {
      throw classifySmtpError(err);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
