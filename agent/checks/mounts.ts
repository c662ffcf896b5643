import { readFileSync } from 'node:fs';
import type { Measured } from '../../shared/state-digest.ts';
import type { Check, CheckContext } from './check.ts';
import { mountState, parseMountInfo } from './mountinfo.ts';

/** Mounts meant to be read-only: `/proc/self/mountinfo` read every cycle. */
export class MountsCheck implements Check {
  readonly name = 'mounts';
  readonly kind = 'mount' as const;
  readonly cadence = 'cycle' as const;

  constructor(private readonly ctx: CheckContext, private readonly source = '/proc/self/mountinfo') {}

  async measure(): Promise<Measured[]> {
    if (!this.ctx.cfg.mounts.length) return [];
    const mounts = parseMountInfo(readFileSync(this.source, 'utf8'));
    return this.ctx.cfg.mounts.map((m) => ({
      kind: 'mount' as const, key: m.path, value: { path: m.path, expect: m.expect, state: mountState(mounts, m.path) },
    }));
  }

  async close(): Promise<void> {}
}
