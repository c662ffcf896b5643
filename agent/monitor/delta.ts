import { portKey, type DaemonEntry, type FileEntry, type MountEntry, type PortEntry, type WatchNote } from '../../shared/protocol.ts';
import { fileChanges, type EntryKind, type Measured } from '../../shared/state-digest.ts';
import type { MeasuredState } from './measured-state.ts';

/** Changes to send in one `event`: new values, vanished paths, watcher notes. */
export interface Delta {
  files: FileEntry[];
  gone: string[];
  daemons: DaemonEntry[];
  mounts: MountEntry[];
  notes: WatchNote[];
  /** New or changed listening sockets, and the keys of those gone. */
  ports: PortEntry[];
  portsGone: string[];
}

export const emptyDelta = (): Delta => ({ files: [], gone: [], daemons: [], mounts: [], notes: [], ports: [], portsGone: [] });

export function isEmptyDelta(d: Delta): boolean {
  return !d.files.length && !d.gone.length && !d.daemons.length && !d.mounts.length && !d.notes.length && !d.ports.length && !d.portsGone.length;
}

/** Adds one item's new value (or its disappearance) to a delta. */
export function addToDelta(d: Delta, kind: EntryKind, key: string, value: Measured['value'] | null): void {
  if (kind === 'file') {
    d.files = d.files.filter((f) => f.path !== key);
    d.gone = d.gone.filter((g) => g !== key);
    if (value) d.files.push(value as FileEntry);
    else d.gone.push(key);
  } else if (kind === 'daemon') {
    // A daemon no longer configured is simply not reported; the next report settles it.
    d.daemons = d.daemons.filter((x) => x.name !== key);
    if (value) d.daemons.push(value as DaemonEntry);
  } else if (kind === 'port') {
    d.ports = d.ports.filter((x) => portKey(x) !== key);
    d.portsGone = d.portsGone.filter((g) => g !== key);
    if (value) d.ports.push(value as PortEntry);
    else d.portsGone.push(key);
  } else {
    d.mounts = d.mounts.filter((x) => x.path !== key);
    if (value) d.mounts.push(value as MountEntry);
  }
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
 * lines a person reads: `changed PATH (fields)`, `added PATH`, `missing PATH`, daemon and mount states.
 */
export function describeDifferences(before: MeasuredState, after: MeasuredState): { kind: string; subject: string; detail: string }[] {
  const out: { kind: string; subject: string; detail: string }[] = [];
  const b = new Map(before.files().map((f) => [f.path, f]));
  const a = new Map(after.files().map((f) => [f.path, f]));
  for (const [p, f] of a) {
    const old = b.get(p);
    if (!old) { out.push({ kind: 'file-added', subject: p, detail: f.type }); continue; }
    const fields = Object.keys(fileChanges(old, f));
    if (fields.length) out.push({ kind: 'file-changed', subject: p, detail: fields.join(',') });
  }
  for (const p of b.keys()) if (!a.has(p)) out.push({ kind: 'file-missing', subject: p, detail: '' });
  for (const d of after.daemons()) {
    if (d.status === 'down') out.push({ kind: 'daemon-down', subject: d.name, detail: d.reason ?? '' });
    if (d.status === 'exe-mismatch') out.push({ kind: 'daemon-exe-mismatch', subject: d.name, detail: d.reason ?? '' });
  }
  for (const m of after.mounts()) if (m.state !== 'ro') out.push({ kind: 'mount-writable', subject: m.path, detail: m.state });
  const hadPorts = new Set(before.ports().map(portKey));
  for (const p of after.ports()) if (!hadPorts.has(portKey(p))) out.push({ kind: 'port-opened', subject: portKey(p), detail: p.process });
  return out;
}
