import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { WatchNote } from '../../shared/protocol.ts';
import type { EntryKind, Measured } from '../../shared/state-digest.ts';
import type { AgentConfig } from '../config.ts';
import type { Hasher } from '../hashing/hash-pool.ts';
import type { WatchBackend } from '../watch/backend.ts';

/** What every check is given when it is created. */
export interface CheckContext {
  cfg: AgentConfig;
  configPath: string;
  log: Logger;
  clock: Clock;
  hasher: Hasher;
  /** Real-time backends: a primary that covers trees, and the fast lane (fs.watch) that covers them alone when there is no primary; null when absent. */
  watch: { primary: WatchBackend | null; fast: WatchBackend | null };
  /** Overrides the agent's own executable (tests). */
  selfPath?: string;
  /** The file system root the built-in watch set is looked up under (tests); `/` when absent. */
  root?: string;
}

/** How a watching check hands over what it re-measured after an event. */
export interface CheckHooks {
  /** A new value for an item, or null when it is gone. */
  update(kind: EntryKind, key: string, value: Measured['value'] | null): void;
  /** The last known value of an item. */
  get(kind: EntryKind, key: string): Measured['value'] | undefined;
  /** Keys of one kind currently held (to find what lay under a vanished directory). */
  keys(kind: EntryKind): Iterable<string>;
  /** The watcher lost events or failed: the runner reports it and runs a full scan. */
  trouble(note: WatchNote): void;
}

/**
 * One agent check (files, daemons, mounts). `measure` returns every item of
 * its kind; items it no longer returns are gone. Checks never judge: the
 * server compares with the baseline.
 */
export interface Check {
  readonly name: string;
  readonly kind: EntryKind;
  /** `cycle`: measured every interval (cheap); `scan`: at start and every `fullScanEvery`. */
  readonly cadence: 'cycle' | 'scan';
  /**
   * Every item of the kind. `cycle` says the call is a cycle's, not a full scan's: a check whose source
   * announces its changes may then return its last measurement while nothing was announced.
   */
  measure(why?: 'cycle' | 'scan'): Promise<Measured[]>;
  /** Starts real-time watching (optional). */
  watch?(hooks: CheckHooks): Promise<void>;
  close(): Promise<void>;
}

/** Creates a check from the context; registered in `registry.ts`. */
export type CheckFactory = (ctx: CheckContext) => Check;
