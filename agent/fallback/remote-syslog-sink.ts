import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { FallbackLine, FallbackSink, SinkContext, SinkFactory } from './sink.ts';

/**
 * Remote syslog, RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG`),
 * over UDP (one datagram a line) or TCP (octet-counting framing, RFC 6587).
 * Config: `syslog+udp://HOST:PORT`, `syslog+tcp://HOST:PORT`. A log host on
 * another network path may still be reachable when the server is not.
 */
export class RemoteSyslogSink implements FallbackSink {
  private udp: UdpSocket | null = null;
  private tcp: Socket | null = null;
  private readonly host: string;
  private readonly port: number;
  private readonly proto: 'udp' | 'tcp';

  constructor(
    readonly name: string,
    private readonly ctx: SinkContext,
  ) {
    const u = new URL(name);
    this.proto = u.protocol === 'syslog+tcp:' ? 'tcp' : 'udp';
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 514);
  }

  /** One RFC 5424 message. */
  static format(l: FallbackLine, at = new Date()): string {
    const pri = l.severity === 'critical' ? 34 : 36;
    return `<${pri}>1 ${at.toISOString()} ${hostname() || '-'} tripwarden-agent ${process.pid} finding - ${l.text}`;
  }

  write(lines: FallbackLine[]): void {
    const msgs = lines.map((l) => RemoteSyslogSink.format(l));
    if (this.proto === 'udp') {
      if (!this.udp) {
        this.udp = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
        this.udp.on('error', (e) => {
          this.ctx.fail(e.message);
          this.udp?.close();
          this.udp = null;
        });
        this.udp.unref();
      }
      for (const m of msgs)
        this.udp.send(m, this.port, this.host, (e) => {
          if (e) this.ctx.fail(e.message);
        });
      return;
    }
    if (!this.tcp || this.tcp.destroyed) {
      const s = connect({ host: this.host, port: this.port });
      s.on('error', (e) => {
        this.ctx.fail(e.message);
        s.destroy();
        if (this.tcp === s) this.tcp = null;
      });
      s.unref();
      this.tcp = s;
    }
    this.tcp.write(msgs.map((m) => `${Buffer.byteLength(m)} ${m}`).join(''));
  }

  close(): void {
    this.udp?.close();
    this.tcp?.end();
    this.udp = null;
    this.tcp = null;
  }
}

export const remoteSyslogSinkFactory: SinkFactory = {
  describe: 'remote syslog (syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT)',
  matches: (spec) => /^syslog\+(udp|tcp):\/\//.test(spec),
  create: (spec, ctx) => new RemoteSyslogSink(spec, ctx),
};
