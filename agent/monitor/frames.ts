import { randomUUID } from 'node:crypto';
import { MAX_FRAME_BYTES, MAX_PORTS, type Report, type StateEvent } from '../../shared/protocol.ts';
import type { Unenveloped } from '../link/agent-link.ts';
import type { Delta } from './delta.ts';
import type { MeasuredState } from './measured-state.ts';

/** Room left in a frame for the envelope and JSON punctuation. */
const BUDGET = MAX_FRAME_BYTES - 2048;
const MAX_ITEMS = 2_000;

/** Splits items into groups whose JSON stays under the frame budget (and the schema's item cap). */
export function chunkBySize<T>(items: T[], budget = BUDGET): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    const n = Buffer.byteLength(JSON.stringify(it)) + 1;
    if (cur.length && (bytes + n > budget || cur.length >= MAX_ITEMS)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

type Item = { k: 'f'; v: Report['files'][number] } | { k: 'd'; v: Report['daemons'][number] } | { k: 'm'; v: Report['mounts'][number] }
  | { k: 'p'; v: Report['ports'][number] };

/** The whole state as `report` parts, each frame under {@link MAX_FRAME_BYTES}; always at least one part. */
export function reportFrames(state: MeasuredState, reportId = randomUUID()): Unenveloped<Report>[] {
  const items: Item[] = [
    ...state.daemons().map((v) => ({ k: 'd' as const, v })),
    ...state.mounts().map((v) => ({ k: 'm' as const, v })),
    ...state.ports().slice(0, MAX_PORTS).map((v) => ({ k: 'p' as const, v })),
    ...state.files().map((v) => ({ k: 'f' as const, v })),
  ];
  const groups = chunkBySize(items);
  if (!groups.length) groups.push([]);
  return groups.map((g, part) => ({
    type: 'report', reportId, part, last: part === groups.length - 1,
    files: g.filter((i) => i.k === 'f').map((i) => i.v as Report['files'][number]),
    daemons: g.filter((i) => i.k === 'd').map((i) => i.v as Report['daemons'][number]),
    mounts: g.filter((i) => i.k === 'm').map((i) => i.v as Report['mounts'][number]),
    ports: g.filter((i) => i.k === 'p').map((i) => i.v as Report['ports'][number]),
  }));
}

type DItem = Item | { k: 'g'; v: string } | { k: 'n'; v: StateEvent['notes'][number] } | { k: 'pg'; v: string };

/** A delta as `event` frames, each under {@link MAX_FRAME_BYTES}. */
export function eventFrames(d: Delta): Unenveloped<StateEvent>[] {
  const items: DItem[] = [
    ...d.notes.slice(0, 16).map((v) => ({ k: 'n' as const, v })),
    ...d.daemons.map((v) => ({ k: 'd' as const, v })),
    ...d.mounts.map((v) => ({ k: 'm' as const, v })),
    ...d.files.map((v) => ({ k: 'f' as const, v })),
    ...d.gone.map((v) => ({ k: 'g' as const, v })),
    ...d.ports.map((v) => ({ k: 'p' as const, v })),
    ...d.portsGone.map((v) => ({ k: 'pg' as const, v })),
  ];
  return chunkBySize(items).map((g) => ({
    type: 'event',
    files: g.filter((i) => i.k === 'f').map((i) => i.v as StateEvent['files'][number]),
    gone: g.filter((i) => i.k === 'g').map((i) => i.v as string),
    daemons: g.filter((i) => i.k === 'd').map((i) => i.v as StateEvent['daemons'][number]),
    mounts: g.filter((i) => i.k === 'm').map((i) => i.v as StateEvent['mounts'][number]),
    notes: g.filter((i) => i.k === 'n').map((i) => i.v as StateEvent['notes'][number]),
    ports: g.filter((i) => i.k === 'p').map((i) => i.v as StateEvent['ports'][number]),
    portsGone: g.filter((i) => i.k === 'pg').map((i) => i.v as string),
  }));
}
