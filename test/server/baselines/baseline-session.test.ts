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

function setup() {
  const s = serverDb();
  s.addHost('h');
  const sent: RequestReport[] = [];
  const session = new BaselineSession('h', new BaselineStore(s.db, s.alarms, new GroupPeers(s.db)), s.clock, silentLogger(), (m) => sent.push(m), 5_000);
  return { ...s, session, sent };
}

test('a report in many parts is applied once, when its last part arrives', () => {
  const { session, db } = setup();
  const st = new MeasuredState();
  for (let i = 0; i < 1500; i++) st.set('file', f(i).path, f(i));
  const frames = reportFrames(st);
  assert.ok(frames.length > 2);
  frames.forEach((fr, i) => {
    const count = () => (db.prepare('SELECT COUNT(*) n FROM measured').get() as { n: number }).n;
    assert.equal(count(), 0, `nothing stored before the last part (part ${i})`);
    assert.equal(session.onReport({ ...fr, ...env(i) } as Report), null);
  });
  assert.equal((db.prepare('SELECT COUNT(*) n FROM measured').get() as { n: number }).n, 1500);
});

test('parts out of order are a protocol violation', () => {
  const { session } = setup();
  const st = new MeasuredState();
  for (let i = 0; i < 600; i++) st.set('file', f(i).path, f(i));
  const frames = reportFrames(st);
  assert.equal(session.onReport({ ...frames[0]!, ...env(0) } as Report), null);
  assert.match(session.onReport({ ...frames[2]!, ...env(1) } as Report) ?? '', /out of order/);
});

test('a heartbeat digest that differs from the stored state asks for a report, at most once per gap', () => {
  const { session, sent, clock } = setup();
  const st = new MeasuredState();
  st.set('file', f(1).path, f(1));
  for (const [i, fr] of reportFrames(st).entries()) session.onReport({ ...fr, ...env(i) } as Report);
  session.onHeartbeat(st.digest());
  assert.equal(sent.length, 0, 'same digest: nothing asked');
  session.onHeartbeat('0'.repeat(64));
  session.onHeartbeat('0'.repeat(64));
  assert.equal(sent.length, 1);
  clock.advance(5_000);
  session.onHeartbeat('0'.repeat(64));
  assert.equal(sent.length, 2);
  session.onHeartbeat(undefined);
  assert.equal(sent.length, 2, 'an agent still scanning sends no digest');
});
