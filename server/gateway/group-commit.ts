export interface GroupCommitOptions {
  /**
   * How long the first item of a group may wait for others, in ms (0: those of the same turn of the event
   * loop). Real time, not the server's clock: a wait for company, which no deadline depends on, and which a
   * test's stopped clock must not hold forever.
   */
  windowMs: number;
  /** A group is committed as soon as it holds this many. */
  maxBatch: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (err: Error) => void;
}

/**
 * Group commit: the items submitted within a few ms are written together by `commit` (one transaction, or
 * one round of statements), and each caller is answered only after it. While a group commits, the items
 * arriving meanwhile gather into the next, so the groups grow with the load (a reconnect storm). `commit`
 * answers each item with its result or its own error; if it throws, every item of the group gets that error.
 * Groups commit one after another.
 */
export class GroupCommit<T, R> {
  private pending: Pending<T, R>[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Groups committed since the start. */
  groups = 0;

  constructor(
    private readonly commit: (items: T[]) => Promise<(R | Error)[]>,
    private readonly o: GroupCommitOptions,
  ) {}

  /** Queues an item with the others of its group; resolves to its result once the group committed. */
  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
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
      this.chain = this.chain.then(() => this.run(group));
    }
    return this.chain;
  }

  private async run(group: Pending<T, R>[]): Promise<void> {
    this.groups++;
    let results: (R | Error)[];
    try {
      results = await this.commit(group.map((p) => p.item));
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
