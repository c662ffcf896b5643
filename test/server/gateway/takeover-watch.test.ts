/**
 * The takeover signs one at a time, over a real SQLite file: each named in `agent-impersonated`, warning
 * for one, critical from two, later signs added to the open alarm (a rise re-sent as a new open event);
 * a restart and a reconnect after a blip show none.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedSeqGap, type HelloContext, REPORT_WAIT_MIN_MS, TakeoverWatch } from '../../../server/gateway/takeover-watch.ts';
import { silentLogger } from '../../../shared/log.ts';
import { helloContext } from '../../helpers/hello-context.ts';
import { BOOT, serverDb } from '../../helpers/server-db.ts';

const T0 = 1_800_000_000_000;
const DIGEST = 'a'.repeat(64);

/** A hello of the boot last heard 5 s ago. */
const ctx = (over: Partial<HelloContext> = {}): HelloContext => helloContext(T0, BOOT, 5_000, over);

async function setup() {
  const s = serverDb();
  await s.addHost('h');
  const asked: string[] = [];
  const w = new TakeoverWatch('h', s.alarms, silentLogger(), (r) => asked.push(r));
  const alarm = async () => (await s.alarms.list({ open: true, host: 'h' })).find((a) => a.kind === 'agent-impersonated');
  const openEvents = () => (s.db.prepare(`SELECT COUNT(*) AS n FROM alarm_events WHERE action = 'open'`).get() as { n: number }).n;
  return { ...s, w, asked, alarm, openEvents };
}

test('a reconnect after a blip (old connection silent, sequence grown a little, hash, digest and report as always) raises nothing', async () => {
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ superseded: [{ remote: 'old', lastFrameAt: T0 - 6_000 }] })), []);
  s.w.onReport();
  await s.w.onHeartbeat(DIGEST, T0 + 1_000);
  await s.w.onHeartbeat(DIGEST, T0 + 60_000);
  assert.equal(await s.alarm(), undefined);
  assert.deepEqual(s.asked, []);
});

test('a restart (new boot id, sequence from 0, no digest before its first scan) raises nothing', async () => {
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ bootId: '99999999-2222-4333-8444-555555555555', seq: 0, digestsSeen: false })), []);
  for (let i = 1; i <= 30; i++) await s.w.onHeartbeat(undefined, T0 + i * 1_000);
  assert.equal(await s.alarm(), undefined);
});

test('superseding a connection still heard within interval and grace: warning naming it', async () => {
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ superseded: [{ remote: '10.0.0.5:40000', lastFrameAt: T0 - 1_500 }] })), ['live-session-superseded']);
  const a = await s.alarm();
  assert.ok(a);
  assert.equal(a.severity, 'warning');
  assert.deepEqual((a.detail as { evidence: string[] }).evidence, ['live-session-superseded']);
  assert.deepEqual((a.detail as Record<string, { remotes: string[] }>)['live-session-superseded']?.remotes, ['10.0.0.5:40000']);
  assert.deepEqual(s.asked, ['identity check'], 'a suspicious connection is asked for its report');
});

test('after a stall of the server itself, a connection read late is not taken as live', async () => {
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ serverStalled: true, superseded: [{ remote: 'old', lastFrameAt: T0 - 10 }] })), []);
  assert.equal(await s.alarm(), undefined);
});

test('a sequence jump beyond what the time allows: warning; within it: nothing', async () => {
  const ok = await setup();
  assert.deepEqual(await ok.w.onHello(ctx({ seq: 400 + allowedSeqGap(5_000) })), []);
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ seq: 1e12 })), ['sequence-jump']);
  assert.equal((await s.alarm())?.severity, 'warning');
});

test('a hello without the executable hash the host always sent: warning', async () => {
  const s = await setup();
  assert.deepEqual(await s.w.onHello(ctx({ exeSent: false })), ['no-exe-hash']);
  const first = await setup();
  assert.deepEqual(await first.w.onHello(ctx({ exeSent: false, exeExpected: false })), [], 'a host that never sent one');
});

test('two signs at hello: critical at once, naming both', async () => {
  const s = await setup();
  await s.w.onHello(ctx({ seq: 1e12, exeSent: false, superseded: [{ remote: 'old', lastFrameAt: T0 - 300 }] }));
  const a = await s.alarm();
  assert.ok(a);
  assert.equal(a.severity, 'critical');
  assert.deepEqual((a.detail as { evidence: string[] }).evidence, ['live-session-superseded', 'sequence-jump', 'no-exe-hash']);
});

test('heartbeats without the digest and an unanswered report: found later, the alarm rises to critical and is sent again', async () => {
  const s = await setup();
  await s.w.onHello(ctx());
  await s.w.onHeartbeat(undefined, T0 + 1_000);
  assert.equal(await s.alarm(), undefined, 'one heartbeat without a digest may race a rescan');
  await s.w.onHeartbeat(undefined, T0 + 2_000);
  assert.equal((await s.alarm())?.severity, 'warning');
  assert.deepEqual(s.asked, ['identity check']);
  const opens = s.openEvents();
  await s.w.onHeartbeat(undefined, T0 + REPORT_WAIT_MIN_MS);
  const a = await s.alarm();
  assert.ok(a);
  assert.equal(a.severity, 'critical');
  assert.deepEqual((a.detail as { evidence: string[] }).evidence, ['no-state-digest', 'report-unanswered']);
  assert.equal(s.openEvents(), opens + 1, 'the rise to critical is a new open event for the channels');
  assert.equal((await s.alarms.list({ host: 'h' })).filter((x) => x.kind === 'agent-impersonated').length, 1, 'one alarm, amended');
});

test('a report begun in time and a digest on the first heartbeat: nothing owed', async () => {
  const s = await setup();
  await s.w.onHello(ctx());
  s.w.onReport();
  await s.w.onHeartbeat(DIGEST, T0 + 1_000);
  await s.w.onHeartbeat(undefined, T0 + 2_000);
  await s.w.onHeartbeat(undefined, T0 + 3_000 + REPORT_WAIT_MIN_MS);
  assert.equal(await s.alarm(), undefined);
});
