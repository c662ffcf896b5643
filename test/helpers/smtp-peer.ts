import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/**
 * A real SMTP peer on 127.0.0.1 for tests: no TLS, no auth required; every
 * message is parsed with mailparser and kept in `received`.
 */
export class SmtpPeer {
  readonly received: ParsedMail[] = [];
  private server?: SMTPServer;
  port = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly extra: Partial<SMTPServerOptions> = {}) {}

  /** Starts listening (on `port` when given, else an ephemeral one). */
  async start(port = 0): Promise<number> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _session, cb) => {
        simpleParser(stream).then(
          (mail) => {
            this.received.push(mail);
            for (const w of this.waiters.splice(0)) w();
            cb();
          },
          (err) => cb(err as Error),
        );
      },
      ...this.extra,
    });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Waits until `n` messages have arrived, or throws after `ms`. */
  async waitFor(n: number, ms = 5000): Promise<ParsedMail[]> {
    const deadline = Date.now() + ms;
    while (this.received.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} mails, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received;
  }
}
