/**
 * What an operator does to hosts and alarms (shared by the CLI and the dashboard), on both engines:
 * revoke, acknowledge, maintenance and accept, with the refusals each gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlarmStore } from '../../server/alarms/alarm-store.ts';
import { BaselineStore } from '../../server/baselines/baseline-store.ts';
import { CheckerResults } from '../../server/checkers/checker-results.ts';
import { CheckerStore } from '../../server/checkers/checker-store.ts';
import { GroupPeers } from '../../server/fleet/fleet-peers.ts';
import { HeartbeatRollup } from '../../server/liveness/heartbeat-rollup.ts';
import { HostStore } from '../../server/liveness/host-store.ts';
import { Liveness } from '../../server/liveness/liveness.ts';
import { acceptHost, ackAlarm, lastReportAt, revokeHost, setMaintenance } from '../../server/operator-actions.ts';
import { CommandQueue } from '../../server/storage/command-queue.ts';
import { systemClock } from '../../shared/clock.ts';
import { TwError } from '../../shared/errors.ts';
import { silentLogger } from '../../shared/log.ts';
import { describeEngines } from '../helpers/engines.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { fileEntry } from '../helpers/file-entry.ts';

const code = (c: string) => (err: unknown) => err instanceof TwError && err.code === c;

describeEngines('operator actions', ({ open }) => {
  async function fixture() {
    const sql = await open();
    const clock = new FakeClock(Date.UTC(2026, 11, 4, 8, 0, 0));
    const alarms = new AlarmStore(sql);
    const hosts = new HostStore(sql);
    const rollup = new HeartbeatRollup(sql, clock);
    const liveness = new Liveness(sql, { alarms, hosts, rollup }, clock, { graceMs: 1000, maxIntervalMs: 300_000 });
    const baselines = new BaselineStore(sql, alarms, new GroupPeers(sql));
    const checkers = new CheckerStore(sql);
    const checkerResults = new CheckerResults(sql, checkers, alarms, silentLogger());
    const ctx = { sql, alarms, hosts, liveness, commands: new CommandQueue(sql), baselines, checkerResults };
    const now = clock.now();
    await sql.run(`INSERT INTO hosts (host, grp, enrolled_at, status, last_seen, late_at, due_at) VALUES ('web1', 'web', ?, 'up', ?, ?, ?)`, [now, now, now + 3.6e6, now + 3.6e6]);
    return { sql, clock, ctx };
  }

  test('revoke refuses an unknown host; a known one is revoked and its live connection is queued to close', async () => {
    const { sql, clock, ctx } = await fixture();
    await assert.rejects(revokeHost(ctx, 'nope', clock.now()), code('TW_HOST_UNKNOWN'));
    await revokeHost(ctx, 'web1', clock.now());
    assert.equal((await ctx.hosts.get('web1'))!.state, 'revoked');
    assert.deepEqual(await sql.all('SELECT action, host, arg FROM commands'), [{ action: 'close-host', host: 'web1', arg: 'revoked' }]);
  });

  test('acknowledge refuses an unknown alarm and marks a known one seen, keeping it open', async () => {
    const { clock, ctx } = await fixture();
    await assert.rejects(ackAlarm(ctx, 999_999, clock.now()), code('TW_ALARM_UNKNOWN'));
    const id = (await ctx.alarms.open('web1', 'file-changed', '/etc/x', clock.now()))!;
    await ackAlarm(ctx, id, clock.now() + 5);
    const [a] = await ctx.alarms.list({ host: 'web1' });
    assert.equal(a!.ackedAt, new Date(clock.now() + 5).toISOString());
    assert.equal(a!.resolvedAt, null);
  });

  test('maintenance refuses an unknown host, sets a window and ends it', async () => {
    const { clock, ctx } = await fixture();
    await assert.rejects(setMaintenance(ctx, 'nope', null), code('TW_HOST_UNKNOWN'));
    await setMaintenance(ctx, 'web1', clock.now() + 60_000);
    assert.equal((await ctx.hosts.get('web1'))!.maintenanceUntil, clock.now() + 60_000);
    await setMaintenance(ctx, 'web1', null);
    assert.equal((await ctx.hosts.get('web1'))!.maintenanceUntil, null);
  });

  test('accept --stale takes the last stored report and resolves the alarm; without a baseline it is refused', async () => {
    const { clock, ctx } = await fixture();
    const o = { stale: true, clock };
    await assert.rejects(acceptHost(ctx, 'nope', [], o), code('TW_HOST_UNKNOWN'));
    await assert.rejects(acceptHost(ctx, 'web1', [], o), code('TW_BASELINE_NONE'));
    const at = clock.now();
    await ctx.baselines.applyReport('web1', { files: [fileEntry('/etc/crontab'), fileEntry('/usr/sbin/cron')], daemons: [], mounts: [] }, at);
    await ctx.baselines.applyEvent('web1', { files: [fileEntry('/etc/crontab', { size: 2, sha256: 'b'.repeat(64) })], gone: [], daemons: [], mounts: [] }, at);
    assert.equal((await ctx.alarms.list({ host: 'web1', open: true })).length, 1);
    assert.equal(await lastReportAt(ctx, 'web1'), at);
    assert.equal(await lastReportAt(ctx, 'nope'), null);
    clock.advance(1000);
    const r = await acceptHost(ctx, 'web1', ['/etc/crontab', '/etc/never'], o);
    assert.equal(r.source, 'stale');
    assert.equal(r.storedAt, at);
    assert.deepEqual(r.accepted, ['/etc/crontab']);
    assert.deepEqual(r.unmatched, ['/etc/never']);
    assert.equal(r.agentExe, false, 'only a whole-host accept takes the executable');
    assert.deepEqual(await ctx.alarms.list({ host: 'web1', open: true }), []);
  });

  test('a fresh accept with no serve running is refused once the request is not taken, not after the whole wait', async () => {
    const { ctx } = await fixture();
    await ctx.baselines.applyReport('web1', { files: [fileEntry('/etc/crontab')], daemons: [], mounts: [] }, Date.now());
    const started = Date.now();
    await assert.rejects(
      acceptHost(ctx, 'web1', [], { stale: false, clock: systemClock, wait: { takenMs: 200, storedMs: 10_000, pollMs: 20 } }),
      (err: unknown) => err instanceof TwError && err.code === 'TW_HOST_OFFLINE' && /no running serve took the request/.test(err.message),
    );
    assert.ok(Date.now() - started < 5_000, 'the instance list (read async) said no serve is up');
  });
});
