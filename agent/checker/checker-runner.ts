import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CheckerDeclaration, type CheckerKind, CheckerResultBody, type RunChecker } from '../../shared/checker-messages.ts';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { RecordBody } from '../../shared/protocol.ts';
import { hashFile } from '../hashing/hash-file.ts';
import { CHECKER_BIN_DIRS, type ResolvedChecker, resolveChecker } from './checker-files.ts';
import type { CheckerKindImpl, CheckerOutcome, CheckerRunContext } from './checker-kind.ts';
import { CHECKER_KINDS } from './kinds/registry.ts';
import { OutputParts } from './output-parts.ts';
import { runProcess } from './run-process.ts';
import { verifyFiles } from './verify-files.ts';

export interface CheckerRunnerOptions {
  /** The config's `checkers`. */
  checkers: readonly { kind: CheckerKind; config: string }[];
  /** Where the records go: the spool sender's `submit` (spooled, then sent, delivered once). */
  submit: (body: RecordBody) => unknown;
  clock: Clock;
  log: Logger;
  /** Directories the binaries are looked up in (tests); default {@link CHECKER_BIN_DIRS}. */
  binDirs?: readonly string[];
  /** The kinds (tests); default the registry. */
  kinds?: readonly CheckerKindImpl[];
  /** Cap on one run's raw output, in bytes (tests). */
  maxOutputBytes?: number;
}

/** Run ids remembered after their run, so a request sent again (a reconnect) does not run the checker twice. */
const REMEMBERED_RUNS = 32;
const REASON_MAX = 300;

/**
 * Runs the host's own integrity checker when the server asks, and only one
 * the agent's config names: the server chooses when, never what. Before a run
 * every file of the checker is hashed and compared with the server's hashes;
 * any difference refuses the run. The output and the result go through the
 * spool, so a result made while the server is away arrives once, later.
 *
 * One run per kind at a time: a request for a kind already running answers
 * `failed` ("already running") under its own run id; the same run id again
 * (sent once more after a reconnect) is ignored with a log line.
 */
export class CheckerRunner {
  private readonly kinds: readonly CheckerKindImpl[];
  private readonly running = new Map<CheckerKind, string>();
  private readonly recent: string[] = [];
  private readonly declared = new Map<CheckerKind, string[]>();
  /** Files a run learned only by running a tool on the config (Tripwire's policy, database, keys), kept for later hellos. */
  private readonly learned = new Map<CheckerKind, string[]>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();

  constructor(private readonly o: CheckerRunnerOptions) {
    this.kinds = o.kinds ?? CHECKER_KINDS;
    for (const c of o.checkers) {
      const impl = this.kinds.find((k) => k.kind === c.kind);
      try {
        if (impl) this.declared.set(c.kind, this.resolve(impl, c.config).files);
      } catch (err) {
        // Declared empty: a run resolves again and refuses or fails with the reason.
        this.declared.set(c.kind, []);
        o.log.error({ checker: c.kind, err: (err as Error).message }, 'cannot resolve the checker files');
      }
    }
  }

  /** The checkers for `hello`: each configured kind with the files it hashes before a run (as last resolved). */
  declarations(): CheckerDeclaration[] {
    return [...this.declared].map(([kind, files]) => ({ kind, files: files.slice(0, 512) }));
  }

  /** Every file of every configured checker (for the watch set, critical). */
  files(): string[] {
    return [...new Set([...this.declared.values()].flat())].sort();
  }

  /**
   * Handles one `run-checker`: returns the result it submitted, or null when
   * the request was ignored (the same run id again). Never throws.
   */
  handle(msg: RunChecker): Promise<CheckerResultBody | null> {
    if (this.abort.signal.aborted) {
      this.o.log.info({ runId: msg.runId }, 'agent stopping: checker run not started');
      return Promise.resolve(null);
    }
    if (this.running.get(msg.checker) === msg.runId || this.recent.includes(msg.runId)) {
      this.o.log.info({ runId: msg.runId, checker: msg.checker }, 'checker run asked for again: ignored');
      return Promise.resolve(null);
    }
    const p = this.run(msg).catch((err: Error) =>
      this.finish(msg, this.o.clock.now(), { ...this.empty(null), status: 'failed', reason: `agent error: ${err.message}` }, null, null),
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /** Waits for runs in progress (their processes end at their deadline at the latest). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** Kills running checkers (their results say so, spooled) and takes no new runs. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }

  private declare(kind: CheckerKind, files: string[]): void {
    this.declared.set(kind, [...new Set([...files, ...(this.learned.get(kind) ?? [])])].sort());
  }

  private resolve(impl: CheckerKindImpl, config: string): ResolvedChecker {
    return resolveChecker(impl, config, { binDirs: this.o.binDirs ?? CHECKER_BIN_DIRS, log: this.o.log });
  }

  private empty(exitCode: number | null): Omit<CheckerOutcome, 'status'> {
    return { exitCode, added: 0, removed: 0, changed: 0, entries: [], truncated: false };
  }

  private async run(msg: RunChecker): Promise<CheckerResultBody> {
    const startedAt = this.o.clock.now();
    const log = this.o.log.child({ runId: msg.runId, checker: msg.checker });
    const cfg = this.o.checkers.find((c) => c.kind === msg.checker);
    const impl = this.kinds.find((k) => k.kind === msg.checker);
    if (!cfg || !impl) {
      log.warn('server asked for a checker this agent is not configured for: refused, nothing run');
      return this.finish(msg, startedAt, { ...this.empty(null), status: 'failed', reason: 'not configured' }, null, null);
    }
    if (this.running.has(msg.checker)) {
      log.warn({ running: this.running.get(msg.checker) }, 'checker already running: this request fails');
      return this.finish(msg, startedAt, { ...this.empty(null), status: 'failed', reason: 'already running' }, null, null);
    }
    this.running.set(msg.checker, msg.runId);
    let tmp: string | null = null;
    try {
      const r = this.resolve(impl, cfg.config);
      this.declare(msg.checker, r.files);
      if (r.missing.length) {
        const reason = `${r.missing.join(', ')} not found in ${(this.o.binDirs ?? CHECKER_BIN_DIRS).join(', ')}`;
        log.warn({ reason }, 'checker binary missing: nothing run');
        return this.finish(msg, startedAt, { ...this.empty(null), status: 'failed', reason }, null, null);
      }
      const refused = await verifyFiles(r.files, msg.expect);
      if (refused.length) {
        log.warn({ files: refused.map((f) => f.path) }, 'checker files differ from the server hashes: run refused');
        const outcome: CheckerOutcome = { ...this.empty(null), status: 'refused', reason: refusedReason(refused.length), refused };
        return this.finish(msg, startedAt, outcome, r.database, null);
      }
      tmp = mkdtempSync(join(tmpdir(), 'tw-checker-'));
      const deadline = startedAt + msg.timeoutMs;
      const parts = new OutputParts(msg.runId, (b) => this.o.submit(b), this.o.maxOutputBytes);
      const ctx: CheckerRunContext = {
        configPath: r.configPath,
        bin: r.bin,
        tmpDir: tmp,
        log,
        exec: (x) => runProcess({ ...x, clock: this.o.clock, timeoutMs: Math.max(1, deadline - this.o.clock.now()), ionice: r.ionice, signal: this.abort.signal }),
        verify: (paths) => verifyFiles(paths, msg.expect),
        output: (t) => parts.write(t),
      };
      log.info({ files: r.files.length }, 'checker files match the server hashes: running');
      const outcome = await impl.run(ctx);
      parts.end();
      if (outcome.extraFiles) {
        this.learned.set(msg.checker, outcome.extraFiles);
        this.declare(msg.checker, r.files);
      }
      const database = outcome.database !== undefined ? outcome.database : r.database;
      return this.finish(msg, startedAt, outcome, database, log);
    } finally {
      this.running.delete(msg.checker);
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Builds the result (with the database's hash after the run), validates it and submits it. */
  private async finish(msg: RunChecker, startedAt: number, outcome: CheckerOutcome, database: string | null, log: Logger | null): Promise<CheckerResultBody> {
    let dbSha256: string | null = null;
    if (database && outcome.status !== 'refused') {
      try {
        dbSha256 = (await hashFile(database)).sha256;
      } catch {
        /* gone or unreadable after the run: null */
      }
    }
    const body: CheckerResultBody = {
      kind: 'checker-result',
      runId: msg.runId,
      checker: msg.checker,
      status: outcome.status,
      startedAt,
      finishedAt: Math.max(startedAt, this.o.clock.now()),
      exitCode: outcome.exitCode,
      added: outcome.added,
      removed: outcome.removed,
      changed: outcome.changed,
      entries: outcome.entries,
      truncated: outcome.truncated,
      dbSha256,
      ...(outcome.reason ? { reason: outcome.reason.replace(/\s+/g, ' ').slice(0, REASON_MAX) } : {}),
      ...(outcome.refused ? { refused: outcome.refused } : {}),
    };
    const valid = CheckerResultBody.safeParse(body);
    const sent: CheckerResultBody = valid.success
      ? valid.data
      : { ...body, status: 'failed', entries: [], truncated: body.added + body.removed + body.changed > 0, refused: undefined, reason: 'agent could not encode the result' };
    if (!valid.success) this.o.log.error({ runId: msg.runId, err: valid.error.issues[0]?.message }, 'checker result did not validate; sending it as failed');
    this.remember(msg.runId);
    this.o.submit(sent);
    (log ?? this.o.log).info(
      { runId: msg.runId, status: sent.status, exitCode: sent.exitCode, added: sent.added, removed: sent.removed, changed: sent.changed },
      'checker run done',
    );
    return sent;
  }

  private remember(runId: string): void {
    this.recent.push(runId);
    if (this.recent.length > REMEMBERED_RUNS) this.recent.shift();
  }
}

function refusedReason(n: number): string {
  return `${n} checker file${n === 1 ? '' : 's'} differ from the server's hashes (missing from expect, changed or unreadable): nothing ran`;
}
