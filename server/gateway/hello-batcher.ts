import type { HeartbeatResult, HelloFields, Liveness } from '../liveness/liveness.ts';

export interface HelloBatcherOptions {
  /**
   * How long the first hello of a group may wait for others, in ms (0: those of the same turn of the event
   * loop). Real time, not the server's clock: a wait for company, which no deadline depends on, and which a
   * test's stopped clock must not hold forever.
   */
  windowMs: number;
  /** A group is committed as soon as it holds this many. */
  maxBatch: number;
}

interface Pending {
  host: string;
  m: HelloFields;
  resolve: (r: HeartbeatResult) => void;
  reject: (err: Error) => void;
}

/**
 * Group commit for hellos: the hellos that arrive within a few ms are recorded in one transaction
 * ({@link Liveness.hellos}), and each is answered only after that commit. After a server restart the whole
 * fleet says hello within seconds; while a group commits, the hellos arriving meanwhile gather into the next, so
 * the groups grow with the storm. A hello that fails (its storage error) fails alone: the others of its group
 * are recorded again one by one.
 *
 * Order: one agent sends nothing before its hello is answered, so groups need no order between agents; groups
 * commit one after another all the same.
 */
export class HelloBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Groups committed since the start (each one transaction, unless it failed and was recorded hello by hello). */
  groups = 0;

  constructor(
    private readonly liveness: Liveness,
    private readonly o: HelloBatcherOptions,
  ) {}

  /** Records a hello with the others of its group; resolves to its result once the group committed. */
  submit(host: string, m: HelloFields): Promise<HeartbeatResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ host, m, resolve, reject });
      if (this.pending.length >= this.o.maxBatch) void this.flush();
      else this.timer ??= this.o.windowMs > 0 ? setTimeout(() => void this.flush(), this.o.windowMs) : setImmediate(() => void this.flush());
    });
  }

  /** Commits what is queued now, after the groups before it; resolves when all of them are answered. Never rejects. */
  flush(): Promise<void> {
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
    const group = this.pending;
    if (group.length > 0) {
      this.pending = [];
      this.chain = this.chain.then(() => this.commit(group));
    }
    return this.chain;
  }

  private async commit(group: Pending[]): Promise<void> {
    this.groups++;
    let results: (HeartbeatResult | Error)[];
    try {
      results = await this.liveness.hellos(group);
    } catch (err) {
      results = group.map(() => err as Error);
    }
    for (const [i, p] of group.entries()) {
      const r = results[i]!;
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    }
  }
}
