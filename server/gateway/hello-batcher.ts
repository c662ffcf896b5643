import type { HeartbeatResult, HelloFields, Liveness } from '../liveness/liveness.ts';
import { GroupCommit, type GroupCommitOptions } from './group-commit.ts';

export type HelloBatcherOptions = GroupCommitOptions;

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
  private readonly group: GroupCommit<{ host: string; m: HelloFields }, HeartbeatResult>;

  constructor(liveness: Liveness, o: HelloBatcherOptions) {
    this.group = new GroupCommit((list) => liveness.hellos(list), o);
  }

  /** Groups committed since the start (each one transaction, unless it failed and was recorded hello by hello). */
  get groups(): number {
    return this.group.groups;
  }

  /** Records a hello with the others of its group; resolves to its result once the group committed. */
  submit(host: string, m: HelloFields): Promise<HeartbeatResult> {
    return this.group.submit({ host, m });
  }

  /** Commits what is queued now, after the groups before it; resolves when all of them are answered. Never rejects. */
  flush(): Promise<void> {
    return this.group.flush();
  }
}
