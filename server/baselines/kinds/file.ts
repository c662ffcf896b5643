import type { AlarmKind, Severity } from '../../../shared/alarm-kinds.ts';
import type { FileEntry } from '../../../shared/protocol.ts';
import { fileChanges } from '../../../shared/state-digest.ts';
import { classifyChange } from '../../fleet/sample-match.ts';
import type { ServerEntryKind, Want } from './kind.ts';

/** Most files one report may carry in all its parts (bounds the memory a host can make the server hold). */
export const MAX_REPORT_FILES = 200_000;

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
 * Files: baselined at the first report. A change or addition is matched
 * against the group's samples: the same content as an accepted sample is
 * `expected` (a warning), content no peer has is an outlier. The agent's own
 * files also open `agent-tampered`.
 */
export const FILE_KIND: ServerEntryKind<'file'> = {
  kind: 'file',
  field: 'files',
  goneField: 'gone',
  lifecycle: 'baseline',
  reportLimit: { max: MAX_REPORT_FILES, message: `report larger than ${MAX_REPORT_FILES} files` },
  alarms: [...FILE_ALARMS, 'agent-tampered'],
  keyOf: (f) => f.path,
  async judge(e, ctx) {
    const v = judgeFile(e.baseline, e.current);
    const want = new Map<AlarmKind, Want>();
    if (v.alarm === 'file-changed' || v.alarm === 'file-added') {
      const place = await ctx.peers.place(ctx.host, ctx.q);
      const c = classifyChange(e.current, {
        isSample: place.sample,
        cls: (v.detail.class as FileEntry['class']) ?? 'normal',
        ...(await ctx.peers.judgingPeers(place.group, ctx.host, e.key, e.currentJson, ctx.q)),
      });
      const fleet = { group: place.group, peers: c.peers, same: c.same, ...(c.outlier ? { outlier: true } : {}) };
      if (c.expected) want.set(v.alarm, { detail: { ...v.detail, expected: c.expected, fleet }, severity: 'warning', classKey: c.expected.sha256 });
      else want.set(v.alarm, { detail: { ...v.detail, fleet }, severity: v.severity, classKey: '' });
    } else if (v.alarm) {
      want.set(v.alarm, { detail: v.detail, severity: v.severity });
    }
    if (v.tampered) want.set('agent-tampered', { detail: { ...v.detail, finding: v.alarm } });
    // Evidence against the agent's own files stays until an operator accepts it: a path the agent reported
    // once and no longer reports (its spool deleted, then recreated) has neither side left, which would
    // otherwise resolve the alarm at the agent's next full report.
    else if (!e.baseline && !e.current && (await ctx.isOpen(ctx.host, 'agent-tampered', e.key)))
      want.set('agent-tampered', { detail: { path: e.key, finding: 'no longer reported' } });
    return want;
  },
  /** The expected content hash, or '' for an unexpected change. */
  classKeyOf(detail) {
    const e = (detail as { expected?: { sha256?: unknown } } | null)?.expected;
    return typeof e?.sha256 === 'string' ? e.sha256 : '';
  },
  // The agent's executable replaced after it started and before this first scan: its baseline is the
  // image it runs (hashed at start, from /proc/self/exe), so the file on disk is judged a change.
  initialBaseline: (f, image) => (image && f.path === image.path && f.type === 'file' && f.sha256 && f.sha256 !== image.sha256 ? { ...f, sha256: image.sha256 } : f),
  async rejudgeAfterAccept(host, keys, ctx) {
    const place = await ctx.peers.place(host, ctx.q);
    if (!place.sample) return [];
    const out: { host: string; key: string }[] = [];
    for (const path of keys) {
      if (!path.startsWith('/')) continue;
      for (const peer of await ctx.peers.peers(place.group, host, path, ctx.q)) {
        if (peer.sample || !((await ctx.isOpen(peer.host, 'file-changed', path)) || (await ctx.isOpen(peer.host, 'file-added', path)))) continue;
        out.push({ host: peer.host, key: path });
      }
    }
    return out;
  },
};
