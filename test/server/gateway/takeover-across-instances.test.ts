/**
 * The takeover signs of one agent judged on two instances sharing one store, on both engines: each instance
 * raises what it holds into one `agent-impersonated`, merged (the union of the signs, critical from two, the
 * rise sent again as a new open event), also when both raise at once; and the boot that sent digests is read
 * by the other instance's hello with the host row, written once per boot.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import { recordDigestBoot } from '../../../server/gateway/digest-boot.ts';
import { type HelloContext, mergeSigns, supersededWhileHeard, TakeoverWatch } from '../../../server/gateway/takeover-watch.ts';
import { HostStore } from '../../../server/liveness/host-store.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { describeEngines, openTestDb, type TestDb } from '../../helpers/engines.ts';
import { helloContext } from '../../helpers/hello-context.ts';

const T0 = 1_800_000_000_000;
const BOOT = '11111111-2222-4333-8444-555555555555';

/** The newcomer's hello on the other instance, from 10.0.0.9, the boot last heard 1 s ago. */
const hello = (over: Partial<HelloContext> = {}): HelloContext => helloContext(T0, BOOT, 1_000, { remote: '10.0.0.9:4000', ...over });

test('a superseded connection counts as live when heard within interval and grace of the command, the server not stalled', () => {
  const base = { at: T0, intervalMs: 1_000, graceMs: 1_000, serverStalled: false };
  assert.equal(supersededWhileHeard({ ...base, lastFrameAt: T0 - 2_000 }), true);
  assert.equal(supersededWhileHeard({ ...base, lastFrameAt: T0 + 300 }), true, 'heard after the command was queued');
  assert.equal(supersededWhileHeard({ ...base, lastFrameAt: T0 - 2_001 }), false);
  assert.equal(supersededWhileHeard({ ...base, lastFrameAt: T0 - 10, serverStalled: true }), false);
});

test('merging signs: the union, the stored ones first, severity from the count; a stored detail of another shape counts as none', () => {
  const m = mergeSigns(
    { evidence: ['live-session-superseded'], 'live-session-superseded': { remotes: ['a'] }, remote: 'x' },
    {
      evidence: ['no-state-digest', 'live-session-superseded'],
      'no-state-digest': { heartbeats: 2 },
      remote: 'y',
    },
  );
  assert.deepEqual(m.detail.evidence, ['live-session-superseded', 'no-state-digest']);
  assert.equal(m.severity, 'critical');
  assert.equal(m.detail.remote, 'y');
  assert.deepEqual(m.detail['live-session-superseded'], { remotes: ['a'] });
  assert.equal(mergeSigns('garbled', { evidence: ['sequence-jump'] }).severity, 'warning');
  assert.equal(mergeSigns(null, { evidence: ['sequence-jump'] }).detail.evidence.length, 1);
});

describeEngines('agent-impersonated from two instances', ({ engine }) => {
  const stores: TestDb[] = [];
  const extra: SqlDb[] = [];
  after(async () => {
    for (const db of extra) await db.close();
    for (const t of stores) await t.cleanup();
  });

  /** One store, two connections to it (alpha's and bravo's), the host enrolled. */
  async function pair() {
    const t = await openTestDb(engine);
    stores.push(t);
    const second = openSqlDb(t.target, PG_MIGRATIONS);
    extra.push(second);
    await t.db.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h', 'default', 'up', 'AA', ?)`, [T0 - 60_000]);
    const watch = (db: SqlDb, asked: string[] = []) => new TakeoverWatch('h', new AlarmStore(db), silentLogger(), (r) => asked.push(r));
    const rows = () => t.db.all<{ id: number; severity: string; detail: string }>(`SELECT id, severity, detail FROM alarms WHERE kind = 'agent-impersonated'`);
    const opens = async () =>
      (await t.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.kind = 'agent-impersonated' AND e.action = 'open'`))!.n;
    return { alpha: t.db, bravo: second, watch, rows, opens };
  }

  test("the holder raises live-session-superseded, the newcomer's instance a missing digest: one alarm, both signs, critical, sent again", async () => {
    const p = await pair();
    const held = p.watch(p.alpha);
    await held.onSupersededElsewhere(T0, { bootId: BOOT, remote: '10.0.0.1:1', heardMsAgo: 400, commandAt: T0, by: { instance: 'bravo', remote: '10.0.0.9:4000' } });
    let [a] = await p.rows();
    assert.equal(a!.severity, 'warning');
    assert.deepEqual(JSON.parse(a!.detail), {
      evidence: ['live-session-superseded'],
      bootId: BOOT,
      remote: '10.0.0.9:4000',
      'live-session-superseded': { remotes: ['10.0.0.1:1'], heardMsAgo: [400], instance: 'bravo' },
    });
    assert.equal(await p.opens(), 1);

    const asked: string[] = [];
    const newcomer = p.watch(p.bravo, asked);
    assert.deepEqual(await newcomer.onHello(hello()), [], 'quiet at its hello: a modest sequence, the executable hash');
    await newcomer.onHeartbeat(undefined, T0 + 1_000);
    await newcomer.onHeartbeat(undefined, T0 + 2_000);
    const all = await p.rows();
    assert.equal(all.length, 1, 'one alarm');
    [a] = all;
    const d = JSON.parse(a!.detail) as Record<string, unknown>;
    assert.deepEqual(d.evidence, ['live-session-superseded', 'no-state-digest']);
    assert.deepEqual(d['no-state-digest'], { heartbeats: 2 });
    assert.deepEqual(d['live-session-superseded'], { remotes: ['10.0.0.1:1'], heardMsAgo: [400], instance: 'bravo' }, "the holder's sign kept");
    assert.equal(a!.severity, 'critical');
    assert.equal(await p.opens(), 2, 'the rise to critical is sent again');
    assert.deepEqual(asked, ['identity check'], 'the first sign on bravo asks for the report it owes');
  });

  test('both instances raising at once: one alarm with both signs, critical', async () => {
    const p = await pair();
    const held = p.watch(p.alpha);
    // On SQLite two instances are two processes whose transactions queue on the file's lock; in one process a
    // second connection would wait synchronously on the first's open transaction, so both share one here.
    const newcomer = p.watch(engine === 'sqlite' ? p.alpha : p.bravo);
    await Promise.all([held.onSupersededElsewhere(T0, { bootId: BOOT, remote: '10.0.0.1:1', heardMsAgo: 100, commandAt: T0, by: null }), newcomer.onHello(hello({ seq: 1e12 }))]);
    const all = await p.rows();
    assert.equal(all.length, 1);
    assert.deepEqual([...(JSON.parse(all[0]!.detail) as { evidence: string[] }).evidence].sort(), ['live-session-superseded', 'sequence-jump']);
    assert.equal(all[0]!.severity, 'critical');
    assert.equal(await p.opens(), 2);
  });

  test('the boot that sent digests: written once per boot, read by the hello with the host row', async () => {
    const p = await pair();
    const hosts = new HostStore(p.bravo);
    assert.equal((await hosts.getForHello('h'))!.digestBootId, null);
    await recordDigestBoot(p.alpha, 'h', BOOT, T0);
    await recordDigestBoot(p.alpha, 'h', BOOT, T0 + 5_000);
    const row = await hosts.getForHello('h');
    assert.equal(row!.digestBootId, BOOT);
    assert.equal(row!.host, 'h');
    assert.equal((await p.alpha.get<{ at: number }>('SELECT noted_at AS at FROM digest_boots WHERE host = ?', ['h']))!.at, T0, 'the same boot again changes nothing');
    const next = '99999999-2222-4333-8444-555555555555';
    await recordDigestBoot(p.bravo, 'h', next, T0 + 9_000);
    assert.equal((await hosts.getForHello('h'))!.digestBootId, next, 'a new boot replaces it');
    assert.equal(await hosts.getForHello('nobody'), undefined);
  });
});
