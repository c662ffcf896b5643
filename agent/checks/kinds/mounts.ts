import { MountsCheck } from '../mounts.ts';
import type { EntryKindSpec } from './kind.ts';

/** Mounts meant to be read-only: `mounts` on the wire; every mount finding is critical. */
export const MOUNT_KIND: EntryKindSpec<'mount'> = {
  kind: 'mount',
  check: (ctx) => new MountsCheck(ctx),
  field: 'mounts',
  goneField: null,
  keyOf: (m) => m.path,
  critical: (mounts) => mounts.length > 0,
  findings: (mounts) =>
    mounts.map((m) => ({
      kind: m.state === 'ro' ? 'mount-ro' : 'mount-writable',
      subject: m.path,
      severity: m.state === 'ro' ? 'warning' : 'critical',
      extra: `state=${m.state}`,
    })),
  differences: (_before, after) => after.filter((m) => m.state !== 'ro').map((m) => ({ kind: 'mount-writable', subject: m.path, detail: m.state })),
};
