import type { AlarmKind } from '../../../shared/alarm-kinds.ts';
import type { DaemonEntry } from '../../../shared/protocol.ts';
import type { ServerEntryKind, Want } from './kind.ts';

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

/**
 * Configured daemons: each report is the whole set. The first `up` entry
 * with the binary's hash is the daemon's baseline (kept until `accept`,
 * which matches a daemon by name or by its binary's path).
 */
export const DAEMON_KIND: ServerEntryKind<'daemon'> = {
  kind: 'daemon',
  field: 'daemons',
  goneField: null,
  lifecycle: 'replace',
  reportLimit: { max: 64, message: 'report lists too many daemons or mounts' },
  alarms: ['daemon-down', 'daemon-exe-mismatch'],
  keyOf: (d) => d.name,
  async judge(e) {
    const want = new Map<AlarmKind, Want>();
    if (!e.current) return want;
    const v = judgeDaemon(e.current, e.baseline);
    if (v.alarm) want.set(v.alarm, { detail: v.detail });
    return want;
  },
  adoptsBaseline: (d) => d.status === 'up' && !!d.sha256,
  accept: { names: (d) => [d.exe], takes: (d) => d.status === 'up' && !!d.sha256 },
};
