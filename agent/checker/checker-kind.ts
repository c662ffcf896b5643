import type { CheckerEntry, CheckerKind } from '../../shared/checker-messages.ts';
import type { Logger } from '../../shared/log.ts';
import type { ProcessResult, RunProcessOptions } from './run-process.ts';

/** The files a configured checker runs with, found from its config. */
export interface CheckerFiles {
  /** Every file hashed before a run (real paths, sorted): binaries, the libraries they load, config, includes, database. */
  files: string[];
  /** The database whose SHA-256 the result carries, or null when it is not a local file. */
  database: string | null;
}

/** What a kind is given to run its checker once the files it was resolved with hashed as expected. */
export interface CheckerRunContext {
  /** The checker's config (its real path, the one that was hashed). */
  configPath: string;
  /** Real paths of the binaries the kind named, as hashed. */
  bin: ReadonlyMap<string, string>;
  /** A private temporary directory for this run, removed after it. */
  tmpDir: string;
  log: Logger;
  /** Runs a process niced, in the idle I/O class, in its own process group, killed with it at the run's deadline. */
  exec(o: Omit<RunProcessOptions, 'clock' | 'timeoutMs' | 'ionice'>): Promise<ProcessResult>;
  /** Hashes more files against the server's hashes (ones only known after reading the config with a tool): the refused ones. */
  verify(paths: string[]): Promise<{ path: string; expected: string | null; actual: string | null }[]>;
  /** Raw output for the `checker-output` records. */
  output(text: string): void;
}

/** How a kind's run ended, before the runner adds times, the database hash and the output. */
export interface CheckerOutcome {
  status: 'ok' | 'findings' | 'failed' | 'refused';
  exitCode: number | null;
  added: number;
  removed: number;
  changed: number;
  entries: CheckerEntry[];
  truncated: boolean;
  reason?: string;
  refused?: { path: string; expected: string | null; actual: string | null }[];
  /** The database the run turned out to read (a tool read it from the config), when it differs from the resolved one. */
  database?: string | null;
  /** Files the run found it reads only once it ran a tool on the config (declared in the next `hello`). */
  extraFiles?: string[];
}

/**
 * One checker kind (AIDE, Tripwire): which binaries it runs, which files it
 * reads, how it runs and how its report is read. One file per kind, registered
 * in `kinds/registry.ts`.
 */
export interface CheckerKindImpl {
  readonly kind: CheckerKind;
  /** Names of its binaries, looked up in fixed system directories only. */
  readonly binaries: readonly string[];
  /** The config, the files it pulls in and the database, read without running anything; never throws. */
  configFiles(configPath: string, log?: Logger): { files: string[]; database: string | null };
  run(ctx: CheckerRunContext): Promise<CheckerOutcome>;
}
