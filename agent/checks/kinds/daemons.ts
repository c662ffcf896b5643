import { DaemonsCheck } from '../daemons.ts';
import type { EntryKindSpec } from './kind.ts';

/**
 * Daemons: `daemons` on the wire; one no longer configured is simply not
 * reported (the next report settles it). Every daemon finding is critical.
 */
export const DAEMON_KIND: EntryKindSpec<'daemon'> = {
  kind: 'daemon',
  check: (ctx) => new DaemonsCheck(ctx),
  field: 'daemons',
  goneField: null,
  keyOf: (d) => d.name,
  critical: (daemons) => daemons.length > 0,
  findings: (daemons) =>
    daemons.map((d) => ({
      kind: d.status === 'up' ? 'daemon-up' : d.status === 'down' ? 'daemon-down' : 'daemon-exe-mismatch',
      subject: d.name,
      severity: d.status === 'up' ? 'warning' : 'critical',
    })),
  differences: (_before, after) =>
    after.flatMap((d) =>
      d.status === 'down'
        ? [{ kind: 'daemon-down', subject: d.name, detail: d.reason ?? '' }]
        : d.status === 'exe-mismatch'
          ? [{ kind: 'daemon-exe-mismatch', subject: d.name, detail: d.reason ?? '' }]
          : [],
    ),
};
