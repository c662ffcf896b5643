import type { WatchNote } from '../../shared/protocol.ts';
import type { EntryKind, Measured } from '../../shared/state-digest.ts';
import { type Difference, type EventFields, goneIn, valuesIn } from '../checks/kinds/kind.ts';
import { KINDS, kindSpec } from '../checks/kinds/registry.ts';
import type { MeasuredState } from './measured-state.ts';

/** Changes to send in one `event`: new values and keys gone of every kind (fields as `event` names them), watcher notes. */
export type Delta = EventFields & { notes: WatchNote[] };

export function emptyDelta(): Delta {
  const d: Record<string, unknown[]> = { notes: [] };
  for (const k of KINDS) {
    d[k.field] = [];
    if (k.goneField) d[k.goneField] = [];
  }
  return d as Delta;
}

export function isEmptyDelta(d: Delta): boolean {
  return !d.notes.length && KINDS.every((k) => !valuesIn(k, d).length && !goneIn(k, d).length);
}

/** Adds one item's new value (or its disappearance) to a delta. */
export function addToDelta(d: Delta, kind: EntryKind, key: string, value: Measured['value'] | null): void {
  const k = kindSpec(kind);
  const fields = d as unknown as Record<string, unknown[]>;
  fields[k.field] = valuesIn(k, d).filter((x) => k.keyOf(x) !== key);
  if (k.goneField) fields[k.goneField] = goneIn(k, d).filter((g) => g !== key);
  if (value) fields[k.field]!.push(value);
  else if (k.goneField) fields[k.goneField]!.push(key);
}

/**
 * Applies a full measurement of one kind to the state: changed and new items
 * are set, items not measured any more are removed. `skip` keeps keys that a
 * real-time event updated while the measurement ran (the event is newer).
 */
export function applyMeasurement(state: MeasuredState, kind: EntryKind, items: Measured[], skip: (key: string) => boolean, into: Delta): void {
  const seen = new Set<string>();
  for (const it of items) {
    seen.add(it.key);
    if (skip(it.key)) continue;
    if (state.set(kind, it.key, it.value)) addToDelta(into, kind, it.key, it.value);
  }
  for (const key of state.keys(kind)) {
    if (seen.has(key) || skip(key)) continue;
    if (state.set(kind, key, null)) addToDelta(into, kind, key, null);
  }
}

/**
 * Differences between an earlier state and a later one (for `check`), as
 * lines a person reads: `changed PATH (fields)`, `added PATH`, `missing PATH`, daemon, mount and port states.
 */
export function describeDifferences(before: MeasuredState, after: MeasuredState): Difference[] {
  return KINDS.flatMap((k) => k.differences(before.values(k.kind), after.values(k.kind)));
}
