/**
 * The status an AIDE or Tripwire exit code means. Both use a bitmask for
 * what they found (1 added, 2 removed, 4 changed); anything above 7 is an
 * error (AIDE's 14–19, Tripwire's bit 8), and so is a death by signal.
 */
export function exitStatus(code: number | null): 'ok' | 'findings' | 'failed' {
  if (code === null || code < 0 || code > 7) return 'failed';
  return code === 0 ? 'ok' : 'findings';
}

/** The kinds of change an exit code's bits say there were. */
export function exitBits(code: number): { added: boolean; removed: boolean; changed: boolean } {
  return { added: (code & 1) !== 0, removed: (code & 2) !== 0, changed: (code & 4) !== 0 };
}
