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
