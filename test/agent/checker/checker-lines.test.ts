import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findingLines } from '../../../agent/fallback/finding-lines.ts';
import type { CheckerResultBody } from '../../../shared/checker-messages.ts';
import type { SpoolRecord } from '../../../shared/protocol.ts';
import { recordHash } from '../../../shared/spool-chain.ts';
import { checkerResult } from '../../helpers/checker-result.ts';

const runId = '00000000-0000-4000-8000-000000000009';
function rec(over: Partial<CheckerResultBody>): SpoolRecord {
  const body = checkerResult(runId, { startedAt: 1, finishedAt: 2, ...over });
  const p = { n: 3, prev: '0'.repeat(64), origin: { bootId: '11111111-2222-4333-8444-555555555555', seq: 1, at: 1 }, severity: 'critical' as const, body };
  return { ...p, hash: recordHash(p) };
}
const texts = (r: SpoolRecord) => findingLines('web1', r).map((l) => l.text.replace(/ hash=\w+ n=3/, ''));

test('fallback lines of a checker result: none when ok; each entry, refused file or the failure reason otherwise', () => {
  assert.deepEqual(texts(rec({})), []);
  const findings = rec({
    status: 'findings',
    exitCode: 5,
    added: 1,
    changed: 1,
    entries: [
      { path: '/etc/new', change: 'added', attrs: [] },
      { path: '/usr/bin/ls', change: 'changed', attrs: ['size', 'sha256'] },
    ],
  });
  assert.deepEqual(texts(findings), [
    `tripwarden: host=web1 kind=checker-findings subject=aide added=1 removed=0 changed=1 run=${runId}`,
    `tripwarden: host=web1 kind=checker-added subject=/etc/new checker=aide run=${runId}`,
    `tripwarden: host=web1 kind=checker-changed subject=/usr/bin/ls checker=aide run=${runId} attrs=size,sha256`,
  ]);
  assert.ok(findingLines('web1', findings).every((l) => l.severity === 'critical'));
  const refused = rec({ status: 'refused', exitCode: null, refused: [{ path: '/etc/aide/aide.conf', expected: 'a'.repeat(64), actual: null }] });
  assert.deepEqual(texts(refused), [
    `tripwarden: host=web1 kind=checker-refused subject=aide files=1 run=${runId}`,
    `tripwarden: host=web1 kind=checker-refused-file subject=/etc/aide/aide.conf checker=aide run=${runId} expected=aaaaaaaaaaaa actual=none`,
  ]);
  const failed = rec({ status: 'failed', exitCode: null, reason: 'timed out: the run was killed' });
  assert.deepEqual(texts(failed), [`tripwarden: host=web1 kind=checker-failed subject=aide exit=none run=${runId} reason="timed out: the run was killed"`]);
});
