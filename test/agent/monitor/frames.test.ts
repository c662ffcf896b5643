import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyDelta } from '../../../agent/monitor/delta.ts';
import { eventFrames, reportFrames } from '../../../agent/monitor/frames.ts';
import { MeasuredState } from '../../../agent/monitor/measured-state.ts';
import { AgentMessage, type FileEntry, MAX_FRAME_BYTES, parseFrame } from '../../../shared/protocol.ts';

const env = (i: number) => ({ bootId: '00000000-0000-4000-8000-000000000000', seq: i, sentAt: 1 });
const file = (i: number): FileEntry => ({
  path: `/var/lib/very/long/${'deep/'.repeat(40)}file-${i}`,
  class: 'normal',
  type: 'file',
  sha256: 'f'.repeat(64),
  size: i,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  ino: String(1e15 + i),
  nlink: 1,
  mtime: '1795409118814035690',
  ctime: '1795409118814035690',
});

test('a large state goes out as report parts, each a valid frame under the limit, in order, the last one marked', () => {
  const s = new MeasuredState();
  for (let i = 0; i < 3000; i++) s.set('file', file(i).path, file(i));
  s.set('daemon', 'cron', { name: 'cron', exe: '/usr/sbin/cron', status: 'up', pids: [1], found: ['/usr/sbin/cron'] });
  const frames = reportFrames(s);
  assert.ok(frames.length > 10);
  let files = 0;
  frames.forEach((f, i) => {
    const text = JSON.stringify({ ...f, ...env(i) });
    assert.ok(Buffer.byteLength(text) <= MAX_FRAME_BYTES, `part ${i} is ${Buffer.byteLength(text)} bytes`);
    const r = parseFrame(AgentMessage, text);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(f.part, i);
    assert.equal(f.last, i === frames.length - 1);
    files += f.files.length;
  });
  assert.equal(files, 3000);
  assert.equal(
    frames.reduce((n, f) => n + f.daemons.length, 0),
    1,
  );
});

test('an empty state is still one (last) report part', () => {
  const frames = reportFrames(new MeasuredState());
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.last, true);
});

test('a large delta goes out as several valid event frames', () => {
  const d = emptyDelta();
  for (let i = 0; i < 1000; i++) d.files.push(file(i));
  for (let i = 0; i < 500; i++) d.gone.push(`/gone/${i}`);
  d.notes.push({ kind: 'overflow', message: 'queue overflow' });
  const frames = eventFrames(d);
  assert.ok(frames.length > 1);
  for (const [i, f] of frames.entries()) {
    const text = JSON.stringify({ ...f, ...env(i) });
    assert.ok(Buffer.byteLength(text) <= MAX_FRAME_BYTES);
    assert.ok(parseFrame(AgentMessage, text).ok);
  }
  assert.equal(
    frames.reduce((n, f) => n + f.files.length, 0),
    1000,
  );
  assert.equal(
    frames.reduce((n, f) => n + f.gone.length, 0),
    500,
  );
});

test('frames that break the schema are refused: relative paths, oversize lists, bad hashes', () => {
  const base = { type: 'event', ...env(1), files: [], gone: [], daemons: [], mounts: [], notes: [] };
  assert.ok(parseFrame(AgentMessage, JSON.stringify(base)).ok);
  assert.match((parseFrame(AgentMessage, JSON.stringify({ ...base, gone: ['relative/path'] })) as { error: string }).error, /gone\.0/);
  assert.equal(parseFrame(AgentMessage, JSON.stringify({ ...base, files: [{ ...file(1), sha256: 'xyz' }] })).ok, false);
  assert.equal(parseFrame(AgentMessage, JSON.stringify({ ...base, files: [{ ...file(1), extra: 1 }] })).ok, false);
});
