import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { safeJson, safeText } from '../../shared/safe-text.ts';
import { openServerContext } from '../context.ts';
import { buildFleetView, type FleetView } from '../fleet/fleet-view.ts';
import type { CommandIo } from './io.ts';

const short = (c: string) => (/^[0-9a-f]{64}$/.test(c) ? c.slice(0, 12) : safeText(c));

/** The fleet view as text: one block per path, one line per group and content, outliers marked. */
export function formatFleetText(v: FleetView): string[] {
  const out = [
    `groups: ${v.groups.map((g) => `${safeText(g.group)} (${g.hosts} hosts${g.samples.length ? `, samples ${safeText(g.samples.join(', '))}` : ''})`).join('; ') || 'none'}`,
  ];
  if (!v.paths.length) out.push('no path differs between hosts of a group');
  for (const p of v.paths) {
    out.push('', safeText(p.path));
    for (const g of p.groups) {
      for (const variant of g.variants) {
        const outlier = g.outliers.includes(variant.hosts[0]!) && variant.hosts.length === 1;
        const names = safeText(variant.hosts.slice(0, 8).join(', ')) + (variant.hosts.length > 8 ? `, … ${variant.hosts.length - 8} more` : '');
        out.push(
          `  ${safeText(g.group)}: ${variant.hosts.length}/${g.hosts} ${short(variant.content)}  ${names}` +
            `${variant.samples.length ? ' [sample]' : ''}${outlier ? '  <-- OUTLIER: matches no other host of the group' : ''}`,
        );
      }
    }
  }
  if (v.truncated) out.push('', `… ${v.truncated} more path(s); narrow with --group`);
  return out;
}

/**
 * `fleet --dir D [--group G] [--all] [--json]`: for each watched path, which
 * content each group's hosts have now, outliers marked. Without `--all`,
 * only paths where some group disagrees.
 */
export async function fleetCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'fleet --dir D [--group G] [--all] [--json]';
  const { values } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      group: { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  const ctx = openServerContext(requireFlag(values.dir, 'dir', usage), systemClock);
  try {
    const v = await buildFleetView(ctx.sql, { group: values.group, varyingOnly: !values.all, limit: values.json ? undefined : 2_000 });
    if (values.json) io.out(safeJson(v));
    else for (const l of formatFleetText(v)) io.out(l);
  } finally {
    await ctx.close();
  }
  return 0;
}
