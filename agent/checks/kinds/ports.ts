import { MAX_PORTS, portKey } from '../../../shared/protocol.ts';
import { PortsCheck } from '../ports.ts';
import type { EntryKindSpec } from './kind.ts';

/**
 * Listening sockets: `ports` and `portsGone` on the wire, keyed as
 * `tcp/0.0.0.0:22`. A new or re-owned listener is critical in the spool (a
 * backdoor's socket must not be summarised away) and writes a `port-opened`
 * fallback line; a listener gone writes `port-closed`. The check reports a
 * new listener only once it has lived `portSettle`, so brief ones raise none.
 */
export const PORT_KIND: EntryKindSpec<'port'> = {
  kind: 'port',
  check: (ctx) => new PortsCheck(ctx),
  field: 'ports',
  goneField: 'portsGone',
  reportMax: MAX_PORTS,
  keyOf: portKey,
  critical: (ports) => ports.length > 0,
  findings: (ports, gone) => [
    ...ports.map((p) => ({ kind: 'port-opened', subject: portKey(p), severity: 'critical' as const, extra: `process=${p.process || '(unknown)'} uid=${p.uid}` })),
    ...gone.map((key) => ({ kind: 'port-closed', subject: key, severity: 'warning' as const })),
  ],
  differences: (before, after) => {
    const had = new Set(before.map(portKey));
    return after.filter((p) => !had.has(portKey(p))).map((p) => ({ kind: 'port-opened', subject: portKey(p), detail: p.process }));
  },
};
