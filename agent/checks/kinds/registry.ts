import type { EntryKind } from '../../../shared/state-digest.ts';
import { DAEMON_KIND } from './daemons.ts';
import { FILE_KIND } from './files.ts';
import type { EntryKindSpec } from './kind.ts';
import { MOUNT_KIND } from './mounts.ts';
import { PORT_KIND } from './ports.ts';

/**
 * Every kind of measured entry, one file each (`kind.ts` is the interface).
 * The order is the order of reports, events and fallback lines: the few,
 * urgent entries first, the many files last, so they land in the first frame
 * and before a long record's lines are capped.
 */
export const KINDS: readonly EntryKindSpec[] = [erased(DAEMON_KIND), erased(MOUNT_KIND), erased(PORT_KIND), erased(FILE_KIND)];

// The field names are checked per kind where each spec is written; the loops see every kind alike.
function erased<K extends EntryKind>(spec: EntryKindSpec<K>): EntryKindSpec {
  return spec as unknown as EntryKindSpec;
}

const BY_KIND = new Map<EntryKind, EntryKindSpec>(KINDS.map((k) => [k.kind, k]));

/** The spec of one kind. */
export function kindSpec(kind: EntryKind): EntryKindSpec {
  return BY_KIND.get(kind)!;
}
