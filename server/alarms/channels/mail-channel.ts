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
}

/** Alarm mail to the security address (`smtp.to`) over SMTP with nodemailer. */
export class MailChannel implements AlarmChannel {
  readonly name = 'mail';
  readonly batching: { perMinute: number; digestIntervalMs: number };
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly o: MailChannelOptions) {
    this.batching = { perMinute: o.perMinute ?? 10, digestIntervalMs: o.digestIntervalMs ?? 60_000 };
    this.transport = createSmtpTransport(o.smtp, o.transportOverrides);
  }

  send(n: AlarmNotice): Promise<Sent> {
    return this.mail(formatNoticeMail(n, this.o.dir), { 'X-Tripwarden-Alarm': String(n.alarmId), 'X-Tripwarden-Action': n.action });
  }

  sendDigest(ns: AlarmNotice[]): Promise<Sent> {
    return this.mail(formatDigestMail(ns, this.o.dir), { 'X-Tripwarden-Digest': String(ns.length) });
  }

  /** Sends any text mail (the daily report, `test-mail`) to the security address. */
  async mail(m: MailText, headers: Record<string, string> = {}): Promise<Sent> {
    try {
      const info = await this.transport.sendMail({
        from: this.o.smtp.from,
        to: this.o.smtp.to,
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
