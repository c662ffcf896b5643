import type { CheckerResultBody } from '../../shared/checker-messages.ts';

/**
 * A checker result as an agent sends it: AIDE, a clean run started and finished at `at`, nothing found;
 * `over` sets what a test is about (status, counts, entries, the database hash, a reason).
 */
export function checkerResult(runId: string, over: Partial<CheckerResultBody> = {}, at = Date.now()): CheckerResultBody {
  return {
    kind: 'checker-result',
    runId,
    checker: 'aide',
    status: 'ok',
    startedAt: at,
    finishedAt: at,
    exitCode: 0,
    added: 0,
    removed: 0,
    changed: 0,
    entries: [],
    truncated: false,
    dbSha256: null,
    ...over,
  };
}
