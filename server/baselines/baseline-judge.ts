/**
 * The comparison of measured state with the baseline, as pure functions: no
 * database, no sockets. The store applies what these return.
 */
import type { AlarmKind, Severity } from '../../shared/alarm-kinds.ts';
import type { DaemonEntry, FileEntry, MountEntry } from '../../shared/protocol.ts';
import { fileChanges } from '../../shared/state-digest.ts';

export const FILE_ALARMS = ['file-changed', 'file-added', 'file-missing'] as const satisfies readonly AlarmKind[];
export type FileAlarm = (typeof FILE_ALARMS)[number];

/** What one path's state means: which file alarm should be open (or none), with what severity and detail. */
export interface FileVerdict {
  alarm: FileAlarm | null;
  severity: Severity;
  /** The agent's own files: a difference also opens `agent-tampered`. */
  tampered: boolean;
  detail: Record<string, unknown>;
}

/** Guarded binaries, the agent's own files and `critical` entries are critical; the rest warnings. */
export function fileSeverity(cls: FileEntry['class']): Severity {
  return cls === 'normal' ? 'warning' : 'critical';
}

/** A short, log-safe summary of an entry for alarm detail. */
function summary(e: FileEntry): Record<string, unknown> {
  const { path: _p, class: _c, ...rest } = e;
  return rest;
}

/**
 * Judges one path: baseline and current (null when absent on that side).
 * The class comes from the baseline when there is one, so an agent cannot
 * downgrade a guarded file by reporting it as `normal`.
 */
export function judgeFile(baseline: FileEntry | null, current: FileEntry | null): FileVerdict {
  const cls = baseline?.class ?? current?.class ?? 'normal';
  const base = { severity: fileSeverity(cls), tampered: false };
  if (!baseline && !current) return { ...base, alarm: null, detail: {} };
  if (!baseline) return { ...base, alarm: 'file-added', tampered: cls === 'self', detail: { path: current!.path, class: cls, new: summary(current!) } };
  if (!current) return { ...base, alarm: 'file-missing', tampered: cls === 'self', detail: { path: baseline.path, class: cls, old: summary(baseline) } };
  const changes = fileChanges(baseline, current);
  if (!Object.keys(changes).length) return { ...base, alarm: null, detail: {} };
  return { ...base, alarm: 'file-changed', tampered: cls === 'self', detail: { path: baseline.path, class: cls, changes } };
}

/**
 * The daemon alarm that should be open for a daemon's state, or null when it runs as configured. With a
 * baseline (the first `up` entry that carried the binary's hash), a daemon that runs a binary with another
 * hash is `daemon-exe-mismatch` too: the binary was replaced at the same path and the daemon restarted.
 */
export function judgeDaemon(d: DaemonEntry, baseline: DaemonEntry | null = null): { alarm: 'daemon-down' | 'daemon-exe-mismatch' | null; detail: Record<string, unknown> } {
  const detail = { exe: d.exe, pids: d.pids, found: d.found, ...(d.reason ? { reason: d.reason } : {}) };
  if (d.status === 'down') return { alarm: 'daemon-down', detail };
  if (d.status === 'exe-mismatch') return { alarm: 'daemon-exe-mismatch', detail };
  if (baseline?.sha256 && d.sha256 && d.sha256 !== baseline.sha256) {
    return {
      alarm: 'daemon-exe-mismatch',
      detail: { ...detail, reason: `${d.exe} differs from the binary in the baseline`, old: { sha256: baseline.sha256 }, new: { sha256: d.sha256 } },
    };
  }
  return { alarm: null, detail };
}

/** `mount-writable` while a mount meant to be read-only is read-write or missing. */
export function judgeMount(m: MountEntry): { alarm: 'mount-writable' | null; detail: Record<string, unknown> } {
  return { alarm: m.state === 'ro' ? null : 'mount-writable', detail: { expect: m.expect, state: m.state } };
}
