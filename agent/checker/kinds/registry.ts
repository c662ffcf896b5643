import type { CheckerKindImpl } from '../checker-kind.ts';
import { aideKind } from './aide.ts';
import { tripwireKind } from './tripwire.ts';

/** Every checker kind the agent can run, once each. */
export const CHECKER_KINDS: readonly CheckerKindImpl[] = [aideKind, tripwireKind];
