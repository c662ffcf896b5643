import type { AlarmKind } from '../../../shared/alarm-kinds.ts';
import type { EntryKind } from '../../../shared/state-digest.ts';
import { DAEMON_KIND } from './daemon.ts';
import { FILE_KIND } from './file.ts';
import type { ServerEntryKind } from './kind.ts';
import { MOUNT_KIND } from './mount.ts';
import { PORT_KIND } from './port.ts';

/**
 * Every kind of measured entry the server judges, one file each (`kind.ts`
 * is the interface). Events are applied in this order.
 */
export const SERVER_KINDS: readonly ServerEntryKind[] = [erased(FILE_KIND), erased(DAEMON_KIND), erased(MOUNT_KIND), erased(PORT_KIND)];

// Each spec is type-checked against its own value type where it is written; the store sees every kind alike.
function erased<K extends EntryKind>(spec: ServerEntryKind<K>): ServerEntryKind {
  return spec as unknown as ServerEntryKind;
}

const BY_KIND = new Map<EntryKind, ServerEntryKind>(SERVER_KINDS.map((k) => [k.kind, k]));

/** The spec of one kind. */
export function serverKind(kind: EntryKind): ServerEntryKind {
  return BY_KIND.get(kind)!;
}

/** The kind whose judge opens an alarm kind, if any. */
export function kindOfAlarm(alarm: AlarmKind): ServerEntryKind | undefined {
  return SERVER_KINDS.find((k) => k.alarms.includes(alarm));
}
