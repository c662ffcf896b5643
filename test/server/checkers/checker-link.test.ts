/**
 * Checker runs over the real link: a ServerApp on a real data dir and loopback TLS, a scripted agent with a
 * certificate from the data dir's CA. The run goes out with the baseline's hashes, the result comes back as
 * spooled records and is stored and alarmed; a run due while the host is offline is delivered once, when it
 * connects. The server's tick runs on a fake clock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { scheduleRunNow } from '../../../server/checkers/run-now.ts';
import { ServerApp } from '../../../server/server-app.ts';
import { silentLogger } from '../../../shared/log.ts';
import { enrollDirect } from '../../faults/fault-kit.ts';
import { CheckerClient } from '../../helpers/checker-client.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { initServer } from '../../helpers/cluster.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

const AIDE = { kind: 'aide' as const, files: ['/usr/bin/aide', '/etc/aide/aide.conf', '/var/lib/aide/aide.db'] };
const clock = new FakeClock(Date.now());
let app: ServerApp;
let port: number;
let dir: string;

before(async () => {
  dir = initServer().dir;
  app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock, log: silentLogger(), channels: [] });
  port = (await app.start()).gateway.port;
});
after(() => app.stop());

/** Lets the server's tick run a few times. */
async function ticks(n = 6): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(250);
    await sleep(5);
  }
}

test('a run is sent with the baseline hashes of the declared files, and its result is stored and alarmed', async () => {
  const [id] = await enrollDirect(dir, ['alpha']);
  const agent = new CheckerClient(id!, port);
  await agent.connect([AIDE]);
  assert.deepEqual(await app.ctx.checkers.declared('alpha'), [AIDE], 'hello declares the checker and its files');
  // The database has no baseline entry: it is left out of `expect`, so the agent would refuse.
  agent.report([
    fileEntry('/usr/bin/aide', { class: 'critical', sha256: 'a'.repeat(64) }),
    fileEntry('/etc/aide/aide.conf', { class: 'critical', sha256: 'b'.repeat(64) }),
    fileEntry('/etc/shadow', { class: 'critical', sha256: 'c'.repeat(64) }),
  ]);
  await waitFor(() => app.ctx.baselines.hasBaseline('alpha'), { what: 'baseline' });

  const [run] = await scheduleRunNow(app.ctx, 'alpha', clock.now());
  await ticks();
  await waitFor(() => agent.runs().length === 1, { what: 'run-checker' });
  const m = agent.runs()[0]!;
  assert.equal(m.runId, run!.id);
  assert.deepEqual(m.expect, [
    { path: '/usr/bin/aide', sha256: 'a'.repeat(64) },
    { path: '/etc/aide/aide.conf', sha256: 'b'.repeat(64) },
  ]);
  const timeout = app.ctx.config.checkerTimeout;
  assert.ok(m.timeoutMs <= timeout && m.timeoutMs > timeout - 5_000, `the agent's timeout is what is left of checkerTimeout (${m.timeoutMs})`);
  assert.equal((await app.ctx.checkers.get(run!.id))!.status, 'running');

  await agent.record({ kind: 'checker-output', runId: run!.id, part: 0, text: 'AIDE found differences between database and filesystem!!\n' });
  await agent.record(
    checkerResult(
      run!.id,
      {
        status: 'findings',
        finishedAt: clock.now() + 5_000,
        exitCode: 4,
        changed: 1,
        entries: [{ path: '/etc/shadow', change: 'changed', attrs: ['sha256', 'mtime'] }],
        dbSha256: 'd'.repeat(64),
      },
      clock.now(),
    ),
  );
  const stored = (await app.ctx.checkers.get(run!.id))!;
  assert.deepEqual([stored.status, stored.exitCode, stored.changed, stored.dbSha256], ['findings', 4, 1, 'd'.repeat(64)]);
  assert.match((await app.ctx.checkers.output(run!.id))!.text, /^AIDE found differences/);
  assert.deepEqual(
    (await app.ctx.alarms.list({ open: true, host: 'alpha' })).map((a) => `${a.kind} ${a.subject} ${a.severity}`),
    ['checker-findings aide critical'],
    '/etc/shadow is critical in the baseline',
  );

  // A refused run: the agent found the binary differing from what was expected.
  const [again] = await scheduleRunNow(app.ctx, 'alpha', clock.now());
  await ticks();
  await waitFor(() => agent.runs().length === 2, { what: 'second run-checker' });
  await agent.record(
    checkerResult(
      again!.id,
      {
        status: 'refused',
        exitCode: null,
        reason: 'checker files differ from the server baseline',
        refused: [{ path: '/usr/bin/aide', expected: 'a'.repeat(64), actual: 'f'.repeat(64) }],
      },
      clock.now(),
    ),
  );
  assert.equal((await app.ctx.checkers.get(again!.id))!.status, 'refused');
  const tampered = (await app.ctx.alarms.list({ open: true, host: 'alpha' })).find((a) => a.kind === 'checker-tampered');
  assert.equal(tampered?.severity, 'critical');
  assert.deepEqual((tampered!.detail as { files: string[] }).files, ['/usr/bin/aide']);
  await agent.close();
});

test('a run requested while the host is offline is delivered once, when it connects', async () => {
  const [id] = await enrollDirect(dir, ['bravo']);
  const agent = new CheckerClient(id!, port);
  await agent.connect([{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }]);
  await agent.close();
  await waitFor(() => !app.registry.ready('bravo'), { what: 'bravo gone' });

  const [run] = await scheduleRunNow(app.ctx, 'bravo', clock.now());
  await ticks();
  assert.equal((await app.ctx.checkers.get(run!.id))!.status, 'scheduled', 'offline: kept');

  await agent.connect([{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }]);
  await ticks();
  await waitFor(() => agent.runs().length >= 1, { what: 'run-checker after connecting' });
  await ticks(8);
  assert.deepEqual(
    agent.runs().map((r) => [r.runId, r.checker, r.expect.length]),
    [[run!.id, 'tripwire', 0]],
    'once, with nothing expected (no baseline yet): the agent refuses it',
  );
  await agent.close();
  await agent.connect([{ kind: 'tripwire', files: ['/usr/sbin/tripwire'] }]);
  await ticks(8);
  assert.equal(agent.runs().length, 1, 'not sent again on the next connection');
  assert.equal((await app.ctx.checkers.get(run!.id))!.status, 'running');
  await agent.close();
});
