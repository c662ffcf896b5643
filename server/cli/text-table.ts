import { safeText } from '../../shared/safe-text.ts';
import type { CommandIo } from './io.ts';

/** Prints rows as an aligned text table; cells may carry agent-supplied text, so each is made safe first. */
export function printTable(io: CommandIo, head: string[], cells: string[][]): void {
  const rows = cells.map((r) => r.map((c) => safeText(c)));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows])
    io.out(
      r
        .map((c, i) => c.padEnd(w[i]!))
        .join('  ')
        .trimEnd(),
    );
}
