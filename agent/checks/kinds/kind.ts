import type { SpoolRecord, StateEvent } from '../../../shared/protocol.ts';
import type { EntryKind, Measured } from '../../../shared/state-digest.ts';
import type { CheckFactory } from '../check.ts';

/** The value one kind measures (a `FileEntry` for `file`, …). */
export type ValueOf<K extends EntryKind> = Extract<Measured, { kind: K }>['value'];

/**
 * The measured-entry fields of an `event` (and of a spooled event body and of
 * the delta): `files`, `gone`, `daemons`, … as `shared/protocol.ts` names them.
 */
export type EventFields = Omit<StateEvent, 'type' | 'bootId' | 'seq' | 'sentAt' | 'notes'>;

/** The event fields that carry values of kind `K` (the same name is used in `report` and the state file). */
export type ValuesField<K extends EntryKind> = { [F in keyof EventFields]-?: EventFields[F] extends ValueOf<K>[] ? F : never }[keyof EventFields];
/** The event fields that carry keys of entries gone. */
export type GoneField = { [F in keyof EventFields]-?: EventFields[F] extends string[] ? F : never }[keyof EventFields];

/** One greppable fallback line's content (`finding-lines.ts` adds host, hash and record number). */
export interface Finding {
  kind: string;
  subject: string;
  severity: 'critical' | 'warning';
  /** Extra `key=value` text at the end of the line. */
  extra?: string;
}

/** One difference the `check` command prints. */
export interface Difference {
  kind: string;
  subject: string;
  detail: string;
}

/**
 * Everything the agent knows about one kind of measured entry, in one place:
 * how it is measured (its check), keyed, carried on the wire and in the state
 * file, how urgent a spooled record with it is, what the fallback sinks and
 * `check` say about it. Registered once in `registry.ts`; the monitor, the
 * frames, the spool and the fallback loop over the registry.
 */
export interface EntryKindSpec<K extends EntryKind = EntryKind> {
  readonly kind: K;
  /** The check that measures this kind; its name is the check's name in the config and logs. */
  readonly check: CheckFactory;
  /** The field of `report`, `event`, spooled event bodies and the state file that carries the values. */
  readonly field: ValuesField<K>;
  /**
   * The field of `event` that carries the keys of entries gone, or null when
   * a vanished entry is simply not reported (the next full report settles it).
   */
  readonly goneField: GoneField | null;
  /** Most entries one report carries (the rest are left out); unbounded when absent. */
  readonly reportMax?: number;
  /** The key of a value in the measured state (its path, name or socket). */
  keyOf(value: ValueOf<K>): string;
  /**
   * Whether a spooled event with these entries must never be summarised away.
   * `criticalPath` tells whether a vanished path was a critical one.
   */
  critical(values: ValueOf<K>[], gone: string[], criticalPath: (key: string) => boolean): boolean;
  /** The fallback lines for these entries of one spooled event. */
  findings(values: ValueOf<K>[], gone: string[], rec: SpoolRecord): Finding[];
  /** What `check` reports between the last reported state and a fresh measurement. */
  differences(before: ValueOf<K>[], after: ValueOf<K>[]): Difference[];
}

/** The values of a kind in an event, report or state object (absent fields read as empty). */
export function valuesIn<K extends EntryKind>(spec: EntryKindSpec<K>, o: object): ValueOf<K>[] {
  return ((o as Record<string, unknown>)[spec.field] as ValueOf<K>[] | undefined) ?? [];
}

/** The gone keys of a kind in an event or spooled event body. */
export function goneIn(spec: EntryKindSpec, o: object): string[] {
  return spec.goneField ? (((o as Record<string, unknown>)[spec.goneField] as string[] | undefined) ?? []) : [];
}
