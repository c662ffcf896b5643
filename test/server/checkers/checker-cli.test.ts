/**
 * `run-checker HOST` reaches a running `serve` within 2 s and says whether it sent the run; `checker-runs`
 * lists runs as text (agent-supplied strings made safe) and as the documented JSON rows. A real `serve`
 * process, a scripted agent over real TLS, the CLI as its own process.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { enrollDirect, type Identity } from '../../faults/fault-kit.ts';
import { CheckerClient } from '../../helpers/checker-client.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { initServer, serverCli, startServer, type TestServer } from '../../helpers/cluster.ts';
import { waitFor } from '../../helpers/wait.ts';

let server: TestServer;
let ids: Identity[];
before(async () => {
  const init = initServer();
  ids = await enrollDirect(init.dir, ['alpha', 'bravo', 'quiet']);
  server = await startServer(init);
});
after(() => server.stop());

test('run-checker refuses an unknown host and one without a checker, each in one line', () => {
  const unknown = serverCli(['run-checker', 'nosuch', '--dir', server.dir]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^tripwarden-server: error TW_HOST_UNKNOWN: no enrolled host named "nosuch"/);
  const none = serverCli(['run-checker', 'quiet', '--dir', server.dir]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^tripwarden-server: error TW_CHECKER_NONE: quiet declared no checker in its last hello; add a checkers: entry/);
  assert.equal(none.stderr.trim().split('\n').length, 1);
});

test('run-checker reaches the running serve within 2 s; the result shows in checker-runs, text made safe and JSON', async () => {
  const agent = new CheckerClient(ids[0]!, server.port);
  await agent.connect([{ kind: 'aide', files: ['/usr/bin/aide'] }]);
  const started = Date.now();
  const r = serverCli(['run-checker', 'alpha', '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  const [, id] = /^scheduled aide run (\S+) on alpha$/m.exec(r.stdout) ?? [];
  assert.ok(id, r.stdout);
  assert.match(r.stdout, new RegExp(`^aide run ${id}: sent$`, 'm'));
  await waitFor(() => agent.runs().some((m) => m.runId === id), { what: 'run-checker frame' });
  assert.ok(Date.now() - started < 10_000);

  await agent.record(checkerResult(id!, { status: 'failed', exitCode: 17, reason: 'cannot open \x1b[31mdatabase\u202e' }));
  const text = serverCli(['checker-runs', 'alpha', '--dir', server.dir]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+HOST\s+CHECKER\s+STATUS\s+SCHEDULED\s+FINISHED\s+ADDED\s+REMOVED\s+CHANGED\s+REASON$/);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, new RegExp(`^${id}\\s+alpha\\s+aide\\s+failed\\s+`));
  assert.ok(lines[1]!.endsWith('cannot open \\x1b[31mdatabase\\u202e'), lines[1]);
  assert.doesNotMatch(text.stdout, /[\x1b\u202e]/);

  const json = serverCli(['checker-runs', '--json', '--dir', server.dir]);
  const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
  assert.deepEqual(Object.keys(rows[0]!), [
    'id',
    'host',
    'checker',
    'scheduledAt',
    'startedAt',
    'finishedAt',
    'status',
    'exitCode',
    'added',
    'removed',
    'changed',
    'dbSha256',
    'reason',
  ]);
  assert.deepEqual([rows[0]!.id, rows[0]!.status, rows[0]!.exitCode, rows[0]!.reason], [id, 'failed', 17, 'cannot open \x1b[31mdatabase\u202e']);
  await agent.close();
});

test('run-checker for a host not connected says so and when the run expires', async () => {
  const agent = new CheckerClient(ids[1]!, server.port);
  await agent.connect([{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }]);
  await agent.close();
  await waitFor(
    async () => {
      const c = server.ctx();
      try {
        return (await c.hosts.views(Date.now())).find((h) => h.host === 'bravo')?.connected === false;
      } finally {
        await c.close();
      }
    },
    { what: 'serve saw bravo go' },
  );
  const r = serverCli(['run-checker', 'bravo', '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tripwire run \S+: not sent yet \(no running serve, or bravo not connected\); sent when it connects, until \d{4}-\d\d-\d\dT/m);
  const again = serverCli(['run-checker', 'bravo', '--dir', server.dir]);
  assert.match(again.stdout, /^already scheduled tripwire run/m, 'one pending operator run at a time');
});
