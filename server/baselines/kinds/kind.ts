import type { AlarmKind, Severity } from '../../../shared/alarm-kinds.ts';
import type { Report, StateEvent } from '../../../shared/protocol.ts';
import type { EntryKind, Measured } from '../../../shared/state-digest.ts';
import type { GroupPeers } from '../../fleet/fleet-peers.ts';
import type { Queryable } from '../../storage/engine.ts';

/** The value one kind measures (a `FileEntry` for `file`, …). */
export type ValueOf<K extends EntryKind> = Extract<Measured, { kind: K }>['value'];

/** The fields of a `report` (and `event`) that carry measured values (`files`, `daemons`, …). */
export type ValuesField = { [F in keyof Report]-?: Report[F] extends Measured['value'][] ? F : never }[keyof Report];
/** The fields of an `event` that carry keys of entries gone (`gone`, `portsGone`). */
export type GoneField = { [F in keyof StateEvent]-?: StateEvent[F] extends string[] ? F : never }[keyof StateEvent];

/** What an alarm should look like: its detail and severity, and (for reclassifiable ones) its class key. */
export interface Want {
  detail: unknown;
  severity?: Severity;
  /**
   * When set, an open alarm whose stored detail gives another key (through
   * the kind's `classKeyOf`) is resolved and opened again: an `expected`
   * change that becomes something else (or the reverse) must be mailed anew.
   */
  classKey?: string;
}

/** One stored entry as the judge sees it: baseline and current value, null when absent on that side. */
export interface JudgedEntry<V> {
  key: string;
  baseline: V | null;
  current: V | null;
  /** `current` as stored (canonical JSON), for lookups keyed by content. */
  currentJson: string | null;
}

/** What a judge may consult besides the entry: the host and its place in the fleet. */
export interface JudgeContext {
  host: string;
  peers: GroupPeers;
  /** The transaction the judgement runs in: pass it to every `peers` call. */
  q: Queryable;
  /** Whether an alarm of that kind is open on that host and subject. */
  isOpen(host: string, kind: AlarmKind, subject: string): Promise<boolean>;
}

/**
 * Everything the server knows about one kind of measured entry, in one
 * place: where it travels in reports and events, how it is kept against the
 * baseline, which alarms it opens and how it is judged. Registered once in
 * `registry.ts`; the baseline store loops over the registry.
 */
export interface ServerEntryKind<K extends EntryKind = EntryKind> {
  readonly kind: K;
  /** The `report`/`event` field with the values. */
  readonly field: ValuesField;
  /** The `event` field with the keys of entries gone, or null when a kind has none. */
  readonly goneField: GoneField | null;
  /**
   * `baseline`: the first report is the accepted state; an entry a later
   * report leaves out is gone; events are judged once the host has a
   * baseline; `accept` takes the current value in. `replace`: each report is
   * the whole set (entries left out are dropped with their alarms), judged
   * at once, baseline or not.
   */
  readonly lifecycle: 'baseline' | 'replace';
  /** Most entries of this kind one report may carry in all its parts, and the protocol-violation line past it. */
  readonly reportLimit: { max: number; message: string };
  /** Every alarm kind the judge opens; the store resolves those it no longer wants. */
  readonly alarms: readonly AlarmKind[];
  /** The key of a value (path, name, socket), also the alarms' subject. */
  keyOf(value: ValueOf<K>): string;
  /** Which alarms should be open for one entry, with their detail. */
  judge(entry: JudgedEntry<ValueOf<K>>, ctx: JudgeContext): Promise<Map<AlarmKind, Want>>;
  /** The class key of an open alarm's stored detail (see {@link Want.classKey}). */
  classKeyOf?(detail: unknown): string;
  /**
   * The baseline to store for a value when a report becomes the baseline
   * (`baseline` kinds; the value itself when absent). `image` is the
   * executable the agent said it runs.
   */
  initialBaseline?(value: ValueOf<K>, image: { path: string; sha256: string } | null): ValueOf<K>;
  /** `replace` kinds with a baseline of their own: whether a value becomes it while none is set. */
  adoptsBaseline?(value: ValueOf<K>): boolean;
  /**
   * `replace` kinds that `accept` handles: the names it matches an entry by
   * besides its key, and whether the current value becomes the baseline.
   */
  accept?: { names(value: ValueOf<K>): string[]; takes(value: ValueOf<K>): boolean };
  /**
   * After `accept` took `keys` on `host`: other hosts' entries to judge again
   * (a sample's accepted change can make peers' changes expected).
   */
  rejudgeAfterAccept?(host: string, keys: readonly string[], ctx: JudgeContext): Promise<{ host: string; key: string }[]>;
}

/** The values of a kind in a report or event (absent fields read as empty). */
export function valuesIn(k: ServerEntryKind, o: object): unknown[] {
  return ((o as Record<string, unknown>)[k.field] as unknown[] | undefined) ?? [];
}

/** The keys of entries gone of a kind in an event. */
export function goneIn(k: ServerEntryKind, o: object): string[] {
  return k.goneField ? (((o as Record<string, unknown>)[k.goneField] as string[] | undefined) ?? []) : [];
}
