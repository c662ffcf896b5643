import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMessage, MAX_FRAME_BYTES, parseFrame, ServerMessage } from '../../shared/protocol.ts';

const hello = {
  type: 'hello',
  bootId: '11111111-2222-4333-8444-555555555555',
  seq: 0,
  sentAt: 1,
  protocol: 1,
  agentVersion: '1',
  interval: 10_000,
  facts: { hostname: 'h', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 5 },
};

test('valid messages parse into their type', () => {
  const r = parseFrame(AgentMessage, JSON.stringify(hello));
  assert.ok(r.ok && r.value.type === 'hello');
  assert.ok(parseFrame(ServerMessage, '{"type":"ack","seq":3}').ok);
});

test('each kind of bad frame yields one line naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...hello, seq: -1 }, /^seq: /],
    [{ ...hello, seq: 1.5 }, /^seq: /],
    [{ ...hello, bootId: 'x' }, /^bootId: must be a UUID/],
    [{ ...hello, extra: 1 }, /Unrecognized key/],
    [{ ...hello, facts: { ...hello.facts, hostname: 'x'.repeat(300) } }, /^facts\.hostname: /],
    [{ ...hello, protocol: 2 }, /^protocol: /],
    [{ type: 'heartbeat', bootId: hello.bootId, seq: 1, sentAt: 9e15 }, /^sentAt: /],
    [{ type: 'nope' }, /^type: /],
    [[], /^message: /],
  ];
  for (const [msg, re] of cases) {
    const r = parseFrame(AgentMessage, JSON.stringify(msg));
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, re, JSON.stringify(msg).slice(0, 80));
    assert.equal((r as { fault: string }).fault, 'schema', 'the fault is named where it is found');
  }
  assert.deepEqual(parseFrame(AgentMessage, '{oops'), { ok: false, error: 'frame is not JSON', fault: 'not-json' });
  assert.equal((parseFrame(AgentMessage, 'x'.repeat(MAX_FRAME_BYTES + 1)) as { error: string }).error, `frame larger than ${MAX_FRAME_BYTES} bytes`);
  assert.equal((parseFrame(AgentMessage, 'x'.repeat(MAX_FRAME_BYTES + 1)) as { fault: string }).fault, 'too-large');
});

test('deep nesting does not crash the parser', () => {
  const deep = '['.repeat(20_000) + ']'.repeat(20_000);
  assert.equal(parseFrame(AgentMessage, deep).ok, false);
});

test('a heartbeat is accepted, refused and shaped exactly as its schema does, whatever the shortcut', () => {
  const base = {
    type: 'heartbeat',
    bootId: '11111111-2222-4333-8444-555555555555',
    seq: 7,
    sentAt: 1_700_000_000_000,
    digest: 'a'.repeat(64),
    spool: { n: 3, hash: 'b'.repeat(64), pending: false },
    wantAck: true,
  };
  const variants: Record<string, unknown>[] = [base, { ...base, spool: undefined, digest: undefined, wantAck: undefined }];
  const bad: [string, unknown][] = [
    ['bootId', 'X1111111-2222-4333-8444-555555555555'],
    ['bootId', 7],
    ['seq', -1],
    ['seq', 1.5],
    ['seq', Number.MAX_SAFE_INTEGER + 2],
    ['seq', '7'],
    ['sentAt', 8.64e15 + 1],
    ['sentAt', null],
    ['digest', 'A'.repeat(64)],
    ['digest', null],
    ['wantAck', 1],
    ['wantAck', null],
    ['spool', null],
    ['spool', []],
    ['spool', { n: 3, hash: 'b'.repeat(64) }],
    ['spool', { n: 3, hash: 'b'.repeat(64), pending: false, extra: 1 }],
    ['spool', { n: -3, hash: 'b'.repeat(64), pending: false }],
    ['spool', { n: 3, hash: 'b'.repeat(63), pending: false }],
    ['spool', { n: 3, hash: 'b'.repeat(64), pending: 'no' }],
    ['extra', 1],
    ['type', 'Heartbeat'],
  ];
  for (const [k, v] of bad) variants.push({ ...base, [k]: v });
  for (const drop of ['bootId', 'seq', 'sentAt']) variants.push(Object.fromEntries(Object.entries(base).filter(([k]) => k !== drop)));
  for (const v of variants) {
    const text = JSON.stringify(v);
    const got = parseFrame(AgentMessage, text);
    const want = AgentMessage.safeParse(JSON.parse(text));
    assert.equal(got.ok, want.success, text);
    if (got.ok && want.success) assert.deepEqual(got.value, want.data, text);
  }
  assert.equal(parseFrame(AgentMessage, '{"type":"heartbeat","bootId":"11111111-2222-4333-8444-555555555555","seq":1,"sentAt":1,"__proto__":{"x":1}}').ok, false);
  assert.equal(parseFrame(AgentMessage, JSON.stringify(base)).ok, true);
});
