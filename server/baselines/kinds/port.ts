import type { AlarmKind } from '../../../shared/alarm-kinds.ts';
import { MAX_PORTS, portKey } from '../../../shared/protocol.ts';
import type { ServerEntryKind, Want } from './kind.ts';

/**
 * Listening sockets, baselined like files: what listens at the first report
 * is the accepted state. `port-opened` (warning) while a listener not in the
 * baseline, or owned by another process than the baseline's, is open and the
 * host's group has port alarms on and does not allow the owning process by
 * name (`group-ports G allow NAME`); resolved when it goes away or is accepted.
 */
export const PORT_KIND: ServerEntryKind<'port'> = {
  kind: 'port',
  field: 'ports',
  goneField: 'portsGone',
  lifecycle: 'baseline',
  reportLimit: { max: MAX_PORTS, message: `report lists more than ${MAX_PORTS} listening ports` },
  alarms: ['port-opened'],
  keyOf: portKey,
  async judge({ baseline: base, current: cur }, ctx) {
    const want = new Map<AlarmKind, Want>();
    const group = cur ? (await ctx.peers.place(ctx.host, ctx.q)).group : '';
    if (cur && (!base || base.process !== cur.process) && (await ctx.peers.portAlarms(group, ctx.q)) && !(await ctx.peers.portAllowed(group, cur.process, ctx.q))) {
      want.set('port-opened', {
        detail: {
          process: cur.process || '(unknown owner)',
          pids: cur.pids,
          uid: cur.uid,
          proto: cur.proto,
          addr: cur.addr,
          port: cur.port,
          ...(base ? { baselineProcess: base.process } : {}),
        },
      });
    }
    return want;
  },
};
