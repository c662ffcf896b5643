import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ALARM_GUIDE, alarmGuide, UNKNOWN_GUIDE } from '../../../server/alarms/alarm-kinds.ts';
import { formatNoticeMail } from '../../../server/alarms/channels/mail-format.ts';
import { ALARM_KINDS } from '../../../shared/alarm-kinds.ts';

const REFERENCE = readFileSync(new URL('../../../docs/REFERENCE.md', import.meta.url), 'utf8');

/** kind → "what to do" cell of docs/REFERENCE.md's alarm kinds table (rows with a filled cell). */
function docsTodo(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of REFERENCE.split('\n')) {
    const m = /^\| `([a-z-]+)` \|(.*)\|$/.exec(line);
    if (!m) continue;
    const cells = m[2]!.split(' | ');
    if (cells.length !== 3) continue;
    const todo = cells[2]!.trim();
    if (todo && !todo.includes('planned, not yet built')) out.set(m[1]!, todo);
  }
  return out;
}

test('every alarm kind has a meaning and what to do', () => {
  for (const kind of Object.keys(ALARM_KINDS)) {
    const g = alarmGuide(kind);
    assert.notEqual(g, UNKNOWN_GUIDE, `${kind} has no entry in server/alarms/alarm-kinds.ts`);
    assert.ok(g.meaning.endsWith('.') && g.todo.length > 10, kind);
  }
  assert.equal(alarmGuide('no-such-kind'), UNKNOWN_GUIDE);
  assert.equal(alarmGuide('constructor'), UNKNOWN_GUIDE, 'not an inherited property');
});

test('the dashboard and mail say what to do in the same words as docs/REFERENCE.md', () => {
  const docs = docsTodo();
  assert.ok(docs.size >= 15, `found ${docs.size} rows in the docs table`);
  for (const [kind, todo] of docs) {
    assert.ok(Object.hasOwn(ALARM_GUIDE, kind), `${kind} is documented but has no guide`);
    assert.equal(ALARM_GUIDE[kind]!.todo, todo, `${kind}: docs/REFERENCE.md and server/alarms/alarm-kinds.ts differ`);
  }
});

test('the mail offers maintenance only where it does something, and says what it does', () => {
  const notice = (kind: string) => ({
    eventId: 1,
    action: 'open' as const,
    at: 0,
    alarmId: 7,
    host: 'web1',
    group: 'web',
    kind,
    severity: 'critical' as const,
    subject: 's',
    detail: { path: '/etc/x' },
    openedAt: 0,
    ackedAt: null,
    resolvedAt: null,
  });
  const file = formatNoticeMail(notice('file-changed'), '/srv/tw').text;
  assert.match(file, /Maintenance: +tripwarden maintenance web1 --for 1h --dir \/srv\/tw/);
  assert.match(file, /change alarms are held for the hour and mailed when it ends, unless accepted by then/);
  assert.doesNotMatch(file, /Silence/);
  assert.match(file, /What to do: read `detail` \(old and new\); if intended, `accept HOST PATH`; otherwise investigate\./);
  assert.match(formatNoticeMail(notice('agent-missing'), '/srv/tw').text, /no liveness alarms for this host for the hour/);
  assert.doesNotMatch(formatNoticeMail(notice('agent-tampered'), '/srv/tw').text, /maintenance/, 'a window holds no tampering alarm, so the mail does not offer one');
});
