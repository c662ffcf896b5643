import type { AlarmKind } from '../../../shared/alarm-kinds.ts';
import type { MountEntry } from '../../../shared/protocol.ts';
import type { ServerEntryKind, Want } from './kind.ts';

/** `mount-writable` while a mount meant to be read-only is read-write or missing. */
export function judgeMount(m: MountEntry): { alarm: 'mount-writable' | null; detail: Record<string, unknown> } {
  return { alarm: m.state === 'ro' ? null : 'mount-writable', detail: { expect: m.expect, state: m.state } };
}

/** Mounts meant to be read-only: each report is the whole set; judged on their own state, no baseline. */
export const MOUNT_KIND: ServerEntryKind<'mount'> = {
  kind: 'mount',
  field: 'mounts',
  goneField: null,
  lifecycle: 'replace',
  reportLimit: { max: 256, message: 'report lists too many daemons or mounts' },
  alarms: ['mount-writable'],
  keyOf: (m) => m.path,
  async judge(e) {
    const want = new Map<AlarmKind, Want>();
    const v = e.current ? judgeMount(e.current) : null;
    if (v?.alarm) want.set(v.alarm, { detail: v.detail });
    return want;
  },
};
