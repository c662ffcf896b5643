import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { formatDuration } from '../../../shared/duration.ts';
import type { ServerConfig } from '../../config.ts';
import { type AlarmChannel, type AlarmNotice, DeliveryError, type Sent } from './channel.ts';

/** The `syslog:` block of server.yml. */
export type SyslogConfig = NonNullable<ServerConfig['syslog']>;

/** authpriv: security messages that should not land in world-readable logs. */
const FACILITY = 10;
const SEVERITY = { critical: 2, warning: 4, resolved: 5 } as const;
/** 32473 is the private enterprise number reserved for documentation (RFC 5612). */
const SD_ID = 'tripwarden@32473';

/** Escapes an RFC 5424 SD-PARAM value (`"`, `\` and `]`). */
function sdValue(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** A PRINTUSASCII token (HOSTNAME, APP-NAME, MSGID) or the NILVALUE. */
function token(v: string, max: number): string {
  const t = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return t || '-';
}

/** Formats one alarm event as an RFC 5424 message (no framing). */
export function formatSyslog(n: AlarmNotice, host = hostname(), pid = process.pid): string {
  const sev = n.action === 'resolve' ? SEVERITY.resolved : SEVERITY[n.severity];
  const pri = FACILITY * 8 + sev;
  const msgid = `alarm-${n.action}`;
  const sd = `[${SD_ID} alarm="${n.alarmId}" host="${sdValue(n.host)}" kind="${sdValue(n.kind)}" severity="${n.severity}" action="${n.action}"]`;
  // eslint-disable-next-line no-control-regex
  const verb = n.action === 'resolve' ? ' resolved' : n.action === 'remind' ? ` still open after ${formatDuration(Math.max(0, n.at - n.openedAt))} (reminder)` : '';
  const text = `${n.severity} ${n.host} ${n.kind}${verb}: ${n.subject}`.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `<${pri}>1 ${new Date(n.at).toISOString()} ${token(host, 255)} tripwarden ${pid} ${msgid} ${sd} \uFEFF${text}`;
}

/**
 * Alarms to a central log host as RFC 5424 over UDP (one datagram each) or
 * TCP (octet-counting framing, RFC 6587). Every event goes out on its own:
 * a log host wants each line, so there is no digest.
 */
export class SyslogChannel implements AlarmChannel {
  readonly name = 'syslog';
  private udp?: UdpSocket;
  private tcp?: Socket;

  constructor(private readonly cfg: SyslogConfig) {}

  async send(n: AlarmNotice): Promise<Sent> {
    const msg = Buffer.from(formatSyslog(n), 'utf8');
    try {
      if (this.cfg.protocol === 'udp') await this.sendUdp(msg);
      else await this.sendTcp(Buffer.concat([Buffer.from(`${msg.length} `), msg]));
    } catch (err) {
      throw new DeliveryError(`syslog ${this.cfg.protocol}://${this.cfg.host}:${this.cfg.port} unavailable: ${(err as Error).message}`, false);
    }
    return { messageId: `syslog-${n.eventId}` };
  }

  private sendUdp(msg: Buffer): Promise<void> {
    if (!this.udp) {
      this.udp = createSocket(this.cfg.host.includes(':') ? 'udp6' : 'udp4');
      this.udp.on('error', () => {});
      this.udp.unref();
    }
    return new Promise((resolve, reject) => this.udp!.send(msg, this.cfg.port, this.cfg.host, (err) => (err ? reject(err) : resolve())));
  }

  private async sendTcp(frame: Buffer): Promise<void> {
    if (!this.tcp || this.tcp.destroyed) {
      this.tcp = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: this.cfg.host, port: this.cfg.port, timeout: 5000 });
        s.once('connect', () => {
          s.off('error', reject);
          s.setTimeout(0);
          resolve(s);
        });
        s.once('error', reject);
        s.once('timeout', () => s.destroy(new Error('connect timeout')));
      });
      this.tcp.on('error', () => this.tcp?.destroy());
      this.tcp.unref();
    }
    const s = this.tcp;
    await new Promise<void>((resolve, reject) =>
      s.write(frame, (err) => {
        if (!err) return resolve();
        s.destroy();
        reject(err);
      }),
    );
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.tcp?.end();
    this.udp = undefined;
    this.tcp = undefined;
  }
}
