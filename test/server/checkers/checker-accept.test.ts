/**
 * `accept` and checker findings: Tripwarden never rewrites the checker's database; accept records the
 * entries against it, so they stop alarming until the database changes. A path only the checker reported
 * counts as known to `accept HOST PATH`. The CLI as its own process on a real data dir.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openServerContext } from '../../../server/context.ts';
import type { CheckerResultBody } from '../../../shared/checker-messages.ts';
import { systemClock } from '../../../shared/clock.ts';
import { checkerResult } from '../../helpers/checker-result.ts';
import { initServer, serverCli } from '../../helpers/cluster.ts';
import { fileEntry } from '../../helpers/file-entry.ts';

test('accept HOST PATH takes checker entries under PATH; accept HOST takes the rest; a new database brings them back', async () => {
  const { dir } = initServer();
  const ctx = openServerContext(dir, systemClock);
  try {
    const now = Date.now();
    await ctx.sql.run('INSERT INTO hosts (host, enrolled_at) VALUES (?, ?)', ['web1', now]);
    await ctx.baselines.applyReport('web1', { files: [fileEntry('/etc/passwd', { class: 'critical' })], daemons: [], mounts: [] }, now);
    const entries: CheckerResultBody['entries'] = [
      { path: '/etc/motd', change: 'changed', attrs: ['sha256'] },
      { path: '/etc/passwd', change: 'changed', attrs: ['sha256', 'mtime'] },
    ];
    const finding = async (db: string) => {
      const id = await ctx.checkers.schedule({ host: 'web1', checker: 'aide', origin: 'operator', windowStart: null, scheduledAt: now, deadlineAt: now + 60_000 }, now);
      await ctx.checkers.markSent(id, now);
      await ctx.checkerResults.apply('web1', checkerResult(id, { status: 'findings', exitCode: 4, changed: 2, entries, dbSha256: db }, now), Date.now());
    };
    const open = async () => (await ctx.alarms.list({ open: true, host: 'web1' })).map((a) => `${a.kind} ${a.severity}`);
    await finding('1'.repeat(64));
    assert.deepEqual(await open(), ['checker-findings critical']);

    let r = serverCli(['accept', 'web1', '/etc/motd', '--stale', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^accepted 1 checker entry of web1 \(until its checker database is updated\)$/m);
    assert.deepEqual(await open(), ['checker-findings critical'], '/etc/passwd is still not accepted');

    r = serverCli(['accept', 'web1', '--stale', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^accepted 1 checker entry of web1/m);
    assert.deepEqual(await open(), []);
    assert.equal(
      (await ctx.checkers.entries((await ctx.checkers.list({ host: 'web1' }))[0]!.id)).every((e) => e.accepted),
      true,
    );

    await finding('1'.repeat(64));
    assert.deepEqual(await open(), [], 'the same entries against the same database: accepted');
    await finding('2'.repeat(64));
    assert.deepEqual(await open(), ['checker-findings critical'], 'the database changed: they count again');

    r = serverCli(['accept', 'web1', '/nowhere', '--stale', '--dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TW_PATH_UNKNOWN: web1 never reported \/nowhere/);
  } finally {
    await ctx.close();
  }
});
