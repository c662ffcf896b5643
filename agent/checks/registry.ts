import type { CheckFactory } from './check.ts';
import { KINDS } from './kinds/registry.ts';

/** Every agent check, by name (`files`, `daemons`, …: the field its kind fills): one per kind in `kinds/registry.ts`. */
export const CHECKS: Readonly<Record<string, CheckFactory>> = Object.fromEntries(KINDS.map((k) => [k.field, k.check]));
