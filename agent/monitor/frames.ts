import { randomUUID } from 'node:crypto';
import { MAX_FRAME_BYTES, Report, StateEvent } from '../../shared/protocol.ts';
import { goneIn, valuesIn } from '../checks/kinds/kind.ts';
import { KINDS } from '../checks/kinds/registry.ts';
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

/** One entry on its way into a frame: the frame field it goes in, and its value. */
interface Item {
  field: string;
  v: unknown;
}

/** Groups items into their fields, in the order the schema lists them (so frames read as they always did). */
function fieldsOf(order: readonly string[], g: Item[]): Record<string, unknown[]> {
  const by: Record<string, unknown[]> = {};
  for (const f of order) by[f] = [];
  for (const i of g) by[i.field]!.push(i.v);
  return by;
}

const REPORT_FIELDS = Object.keys(Report.shape).filter((f) => KINDS.some((k) => k.field === f));
const EVENT_FIELDS = Object.keys(StateEvent.shape).filter((f) => f === 'notes' || KINDS.some((k) => k.field === f || k.goneField === f));

/** The whole state as `report` parts, each frame under {@link MAX_FRAME_BYTES}; always at least one part. */
export function reportFrames(state: MeasuredState, reportId = randomUUID()): Unenveloped<Report>[] {
  const items: Item[] = KINDS.flatMap((k) => {
    const values = state.values(k.kind);
    return (k.reportMax === undefined ? values : values.slice(0, k.reportMax)).map((v) => ({ field: k.field, v }));
  });
  const groups = chunkBySize(items);
  if (!groups.length) groups.push([]);
  return groups.map((g, part) => ({ type: 'report', reportId, part, last: part === groups.length - 1, ...fieldsOf(REPORT_FIELDS, g) }) as Unenveloped<Report>);
}

/** A delta as `event` frames, each under {@link MAX_FRAME_BYTES}. */
export function eventFrames(d: Delta): Unenveloped<StateEvent>[] {
  const items: Item[] = [
    ...d.notes.slice(0, 16).map((v) => ({ field: 'notes', v })),
    ...KINDS.flatMap((k) => [...valuesIn(k, d).map((v) => ({ field: k.field, v })), ...(k.goneField ? goneIn(k, d).map((v) => ({ field: k.goneField!, v })) : [])]),
  ];
  return chunkBySize(items).map((g) => ({ type: 'event', ...fieldsOf(EVENT_FIELDS, g) }) as Unenveloped<StateEvent>);
}
