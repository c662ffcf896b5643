import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportFrames } from '../../../agent/monitor/frames.ts';
import { MeasuredState } from '../../../agent/monitor/measured-state.ts';
import { BaselineSession } from '../../../server/baselines/baseline-session.ts';
import { BaselineStore } from '../../../server/baselines/baseline-store.ts';
import { GroupPeers } from '../../../server/fleet/fleet-peers.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { FileEntry, Report, RequestReport } from '../../../shared/protocol.ts';
import { serverDb } from '../../helpers/server-db.ts';

const f = (i: number): FileEntry => ({
  path: `/srv/${'x'.repeat(200)}/${i}`,
  class: 'normal',
  type: 'file',
  sha256: 'a'.repeat(64),
  size: i,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  ino: String(i),
  nlink: 1,
  mtime: '1',
  ctime: '1',
});
const env = (seq: number) => ({ bootId: '11111111-2222-4333-8444-555555555555', seq, sentAt: 1 });

async function setup() {
  const s = serverDb();
  await s.addHost('h');
  const sent: RequestReport[] = [];
  const session = new BaselineSession('h', new BaselineStore(s.sql, s.alarms, new GroupPeers(s.sql)), s.clock, silentLogger(), (m) => sent.push(m), 5_000);
  return { ...s, session, sent };
}

test('a report in many parts is applied once, when its last part arrives', async () => {
  const { session, db } = await setup();
  const st = new MeasuredState();
  for (let i = 0; i < 1500; i++) st.set('file', f(i).path, f(i));
  const frames = reportFrames(st);
  assert.ok(frames.length > 2);
  for (const [i, fr] of frames.entries()) {
    const count = () => (db.prepare('SELECT COUNT(*) n FROM measured').get() as { n: number }).n;
    assert.equal(count(), 0, `nothing stored before the last part (part ${i})`);
    assert.equal(await session.onReport({ ...fr, ...env(i) } as Report), null);
  }
  assert.equal((db.prepare('SELECT COUNT(*) n FROM measured').get() as { n: number }).n, 1500);
});

test('parts out of order are a protocol violation', async () => {
  const { session } = await setup();
  const st = new MeasuredState();
  for (let i = 0; i < 600; i++) st.set('file', f(i).path, f(i));
  const frames = reportFrames(st);
  assert.equal(await session.onReport({ ...frames[0]!, ...env(0) } as Report), null);
  assert.match((await session.onReport({ ...frames[2]!, ...env(1) } as Report)) ?? '', /out of order/);
});

test('a heartbeat digest that differs from the stored state asks for a report, at most once per gap', async () => {
  const { session, sent, clock } = await setup();
  const st = new MeasuredState();
  st.set('file', f(1).path, f(1));
  for (const [i, fr] of reportFrames(st).entries()) await session.onReport({ ...fr, ...env(i) } as Report);
  await session.onHeartbeat(st.digest());
  assert.equal(sent.length, 0, 'same digest: nothing asked');
  await session.onHeartbeat('0'.repeat(64));
  await session.onHeartbeat('0'.repeat(64));
  assert.equal(sent.length, 1);
  clock.advance(5_000);
  await session.onHeartbeat('0'.repeat(64));
  assert.equal(sent.length, 2);
  await session.onHeartbeat(undefined);
  assert.equal(sent.length, 2, 'an agent still scanning sends no digest');
});
