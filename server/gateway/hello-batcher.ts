import type { Clock } from '../../shared/clock.ts';
import type { Hello } from '../../shared/protocol.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { judgeAgentExe } from '../baselines/agent-exe.ts';
import type { EventLedger } from '../baselines/event-ledger.ts';
import type { CheckerStore } from '../checkers/checker-store.ts';
import type { HelloRow } from '../liveness/host-store.ts';
import type { HeartbeatResult, HelloFields, Liveness } from '../liveness/liveness.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { GroupCommit, type GroupCommitOptions } from './group-commit.ts';

export type HelloBatcherOptions = GroupCommitOptions;

/** What a hello's transaction writes: the host row, and, once accepted, the spool head, the executable's hash and the checkers. */
export interface HelloStores {
  sql: SqlDb;
  liveness: Liveness;
  ledger?: EventLedger;
  alarms?: AlarmStore;
  checkers?: CheckerStore;
  clock: Clock;
}

/** A hello as recorded: the host row's fields, and what else the agent's `hello` may carry. */
export type HelloRecord = HelloFields & Partial<Pick<Hello, 'spool' | 'exeSha256' | 'checkers'>>;

/** A hello recorded and committed. */
export interface HelloOutcome {
  result: HeartbeatResult;
  /** The host's row as it was before this hello (read in its transaction). */
  before: HelloRow | undefined;
  /** The spool head checked against the stored chain (null: no head, or the hello was not accepted). */
  spool: 'ok' | 'rolled-back' | 'tampered' | null;
  /** The executable's hash judged against the accepted one (`none`: no hash, or not accepted). */
  exe: 'first' | 'same' | 'changed' | 'none';
  /** The checkers could not be recorded: the hello stands all the same (they are declared again at the next). */
  checkersError?: Error;
}

/**
 * Everything a hello writes, in the caller's transaction: the host row ({@link Liveness.helloWithRow}), then,
 * once accepted, the spool head against the stored chain, the executable's hash, and the declared checkers.
 * With `checkers` false the checkers are left out (recorded after the commit, where their failure fails nothing).
 */
async function helloIn(s: HelloStores, host: string, m: HelloRecord, now: number, tx: Queryable, checkers: boolean): Promise<HelloOutcome> {
  const { result, before } = await s.liveness.helloWithRow(host, m, now, tx);
  const out: HelloOutcome = { result, before, spool: null, exe: 'none' };
  if (result !== 'ok') return out;
  if (m.spool && s.ledger) out.spool = await s.ledger.onHello(host, m.spool, m.bootId, now, tx);
  if (s.alarms) out.exe = await judgeAgentExe(tx, s.alarms, host, m.exeSha256, now);
  if (checkers) await s.checkers?.declare(host, m.checkers ?? [], now, tx);
  return out;
}

/**
 * Records hellos in one transaction, and answers each in the order of `list`. When the group's transaction
 * fails, each hello is recorded again in its own, so a hello that fails fails alone (with its error in its
 * place); alone, its checkers are recorded after its commit, and their failure is only reported
 * ({@link HelloOutcome.checkersError}), as a failed declaration never refused a hello.
 */
export async function recordHellos(s: HelloStores, list: readonly { host: string; m: HelloRecord }[]): Promise<(HelloOutcome | Error)[]> {
  const now = s.clock.now();
  let results: HelloOutcome[];
  try {
    results = await s.sql.tx(async (tx) => {
      const out: HelloOutcome[] = [];
      for (const { host, m } of list) out.push(await helloIn(s, host, m, now, tx, true));
      return out;
    });
  } catch (err) {
    const alone: (HelloOutcome | Error)[] = [];
    for (const { host, m } of list) alone.push(await recordAlone(s, host, m).catch((e: Error) => (list.length > 1 ? e : (err as Error))));
    return alone;
  }
  for (const [i, r] of results.entries()) if (r.result === 'ok') s.liveness.helloCounted(list[i]!.host, now);
  return results;
}

/** One hello in its own transaction, its checkers after the commit. */
async function recordAlone(s: HelloStores, host: string, m: HelloRecord): Promise<HelloOutcome> {
  const now = s.clock.now();
  const out = await s.sql.tx((tx) => helloIn(s, host, m, now, tx, false));
  if (out.result !== 'ok') return out;
  s.liveness.helloCounted(host, now);
  try {
    await s.checkers?.declare(host, m.checkers ?? [], now);
  } catch (err) {
    out.checkersError = err as Error;
  }
  return out;
}

/**
 * Group commit for hellos: the hellos that arrive within a few ms are recorded in one transaction
 * ({@link recordHellos}: the host rows, spool heads, executable hashes and checkers), and each is answered only
 * after that commit. After a server restart the whole fleet says hello within seconds; while a group commits,
 * the hellos arriving meanwhile gather into the next, so the groups grow with the storm. A hello that fails
 * (its storage error) fails alone: the others of its group are recorded again one by one.
 *
 * Order: one agent sends nothing before its hello is answered, so groups need no order between agents; groups
 * commit one after another all the same.
 */
export class HelloBatcher {
  private readonly group: GroupCommit<{ host: string; m: HelloRecord }, HelloOutcome>;

  constructor(stores: HelloStores, o: HelloBatcherOptions) {
    this.group = new GroupCommit((list) => recordHellos(stores, list), o);
  }

  /** Groups committed since the start (each one transaction, unless it failed and was recorded hello by hello). */
  get groups(): number {
    return this.group.groups;
  }

  /** Records a hello with the others of its group; resolves to its outcome once the group committed. */
  submit(host: string, m: HelloRecord): Promise<HelloOutcome> {
    return this.group.submit({ host, m });
  }

  /** Commits what is queued now, after the groups before it; resolves when all of them are answered. Never rejects. */
  flush(): Promise<void> {
    return this.group.flush();
  }
}
