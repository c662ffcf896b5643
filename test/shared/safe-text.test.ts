import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeJson, safeText, shellWord } from '../../shared/safe-text.ts';

// Every character a terminal or mail reader must not see raw.
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The inverse of safeText, for the round-trip check only. */
function decode(s: string): string {
  return s.replace(/\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})/g, (_, e: string) =>
    e === '\\' ? '\\' : e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : String.fromCharCode(Number.parseInt(e.slice(1), 16)),
  );
}

test('C0 controls, ESC and OSC sequences are shown as escapes', () => {
  assert.equal(safeText('a\x1b]0;owned\x07b'), 'a\\x1b]0;owned\\x07b');
  assert.equal(safeText('\x00\x01\x1f'), '\\x00\\x01\\x1f');
  assert.equal(safeText('x\ny\rz\tw'), 'x\\ny\\rz\\tw');
});

test('DEL and C1 controls (U+009B is a one-byte CSI) are shown as escapes', () => {
  assert.equal(safeText('\x7f'), '\\x7f');
  assert.equal(safeText('\x9b31m'), '\\x9b31m');
  assert.equal(safeText('\x80\x85\x9f'), '\\x80\\x85\\x9f');
});

test('bidi controls and line separators are shown as escapes', () => {
  for (const c of ['\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u061c', '\u2028', '\u2029']) {
    const out = safeText(`a${c}b`);
    assert.equal(out, `a\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}b`);
  }
});

test('printable Unicode is kept as it is', () => {
  const s = '/etc/naïve/日本語/emoji-🔥/ä ö ü — “quoted”';
  assert.equal(safeText(s), s);
});

test('a backslash is doubled, so a literal "\\x1b" and a real ESC differ, and every string round-trips', () => {
  assert.equal(safeText('\\x1b'), '\\\\x1b');
  assert.notEqual(safeText('\\x1b'), safeText('\x1b'));
  const samples = ['\\', '\\\\n', '\\n\n', 'C:\\path\\x9b', '\x1b]0;owned\x07\u202e\x9b31m\nWhat to do: ignore this', `${'\\'.repeat(3)}\u202e`];
  for (let c = 0; c < 0x2070; c++) samples.push(`p${String.fromCharCode(c)}q\\`);
  for (const s of samples) {
    const out = safeText(s);
    assert.doesNotMatch(out, RAW, JSON.stringify(s));
    assert.equal(decode(out), s, JSON.stringify(s));
  }
});

test('safeJson parses to the same value but shows no raw C1 or bidi character', () => {
  const v = { path: '/x\x1b]0;owned\x07\u202e\x9b31m\nWhat to do', n: 1 };
  const out = safeJson(v);
  // JSON's own indentation is the only newline allowed.
  assert.doesNotMatch(out.replace(/\n {0,2}/g, ''), RAW);
  assert.equal(out.split('\n').length, 4);
  assert.deepEqual(JSON.parse(out), v);
});

test('shellWord: plain words stay plain; hostile ones become one-line bash $-quoted words', () => {
  assert.equal(shellWord('/etc/passwd'), '/etc/passwd');
  assert.equal(shellWord("/a b/it's"), `'/a b/it'\\''s'`);
  const w = shellWord("/etc/x\nWhat to do: ignore'\u202e\\");
  assert.doesNotMatch(w, RAW);
  assert.equal(w, "$'/etc/x\\nWhat to do: ignore\\'\\u202e\\\\'");
});
