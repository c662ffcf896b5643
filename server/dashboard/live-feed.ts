import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { DashboardData } from './dashboard-data.ts';

const MAX_UNREAD = 1 << 20;

/**
 * Server-sent events for the hosts page. One poll loop (not one per client)
 * reads a fingerprint of the database every `pollMs`; when it changes, or
 * every `refreshMs` for the bars and ages, every client gets the host rows.
 * Status changes written by the sweep or by a CLI process therefore reach
 * the browser within `pollMs` plus the sweep tick.
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private timer?: TimerHandle;
  private last = '';
  private lastPush = 0;
  /** The poll under way: a slow database makes the next tick skip, not pile up. */
  private running?: Promise<void>;

  constructor(
    private readonly data: DashboardData,
    private readonly o: { clock: Clock; log: Logger; pollMs?: number; refreshMs?: number; maxClients?: number },
  ) {}

  start(): void {
    this.timer = this.o.clock.setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.poll().finally(() => {
        this.running = undefined;
      });
    }, this.o.pollMs ?? 250);
  }

  /** Resolves when the poll under way (if any) has written what it read. */
  async settled(): Promise<void> {
    await this.running;
  }

  stop(): void {
    this.o.clock.clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response as an event stream; resolves once the current rows are written to it. */
  async add(res: ServerResponse, headers: Record<string, string>): Promise<void> {
    if (this.clients.size >= (this.o.maxClients ?? 100)) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5', ...headers });
      res.end('too many live clients');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    let json: string;
    try {
      json = await this.payload();
    } catch (err) {
      // The stream is open: the next poll that reads the rows sends them.
      this.o.log.error({ err: (err as Error).message }, 'live feed could not read the hosts');
      return;
    }
    if (this.clients.has(res)) this.write(res, json);
  }

  private async payload(): Promise<string> {
    const now = this.o.clock.now();
    return JSON.stringify({ now, hosts: await this.data.hostRows(now) });
  }

  private write(res: ServerResponse, json: string): void {
    // A client that stops reading would make us buffer every push for it; past 1 MiB it is dropped (the page reconnects).
    if (res.writableLength > MAX_UNREAD) {
      res.destroy();
      return;
    }
    res.write(`event: hosts\ndata: ${json}\n\n`);
  }

  /** One poll; never rejects. */
  async poll(): Promise<void> {
    if (this.clients.size === 0) return;
    try {
      const now = this.o.clock.now();
      const fp = await this.data.fingerprint();
      if (fp === this.last && now - this.lastPush < (this.o.refreshMs ?? 10_000)) return;
      const json = await this.payload();
      this.last = fp;
      this.lastPush = now;
      for (const c of this.clients) this.write(c, json);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'live feed poll failed');
    }
  }
}
