import { type ChildProcess, spawn } from 'node:child_process';
import type { FallbackLine, FallbackSink, SinkContext, SinkFactory } from './sink.ts';

/** auth (4) × 8 + crit (2) / warning (4). */
const pri = (l: FallbackLine) => (l.severity === 'critical' ? 34 : 36);

/**
 * Local syslog over the unix datagram socket /dev/log (or `syslog+unix:///PATH`).
 * Node has no unix datagram sockets, so one long-lived `logger -u SOCKET
 * --prio-prefix` child takes the lines on its stdin (one message per line, its
 * own `<PRI>` each); a failure to reach the socket ends the child, which is
 * reported, and the next write starts a new one. No native addon is needed.
 */
export class LocalSyslogSink implements FallbackSink {
  private child: ChildProcess | null = null;

  constructor(
    readonly name: string,
    private readonly socket: string,
    private readonly ctx: SinkContext,
  ) {}

  private start(): ChildProcess {
    const c = spawn('logger', ['-u', this.socket, '--socket-errors=on', '--prio-prefix', '-t', 'tripwarden'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.on('error', (e) => {
      if (this.child === c) this.child = null;
      this.ctx.fail(`cannot run logger: ${e.message}`);
    });
    c.on('exit', (code) => {
      if (this.child === c) this.child = null;
      if (code) this.ctx.fail(`logger exited ${code}: ${err.trim().slice(0, 200)}`);
    });
    c.stdin?.on('error', () => {
      /* the exit handler reports it */
    });
    return c;
  }

  write(lines: FallbackLine[]): void {
    this.child ??= this.start();
    this.child.stdin!.write(lines.map((l) => `<${pri(l)}>${l.text}\n`).join(''));
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = null;
  }
}

export const localSyslogSinkFactory: SinkFactory = {
  describe: 'local syslog (/dev/log, syslog+unix:///PATH)',
  matches: (spec) => spec === '/dev/log' || spec.startsWith('syslog+unix://'),
  create: (spec, ctx) => new LocalSyslogSink(spec, spec === '/dev/log' ? spec : spec.slice('syslog+unix://'.length), ctx),
};
