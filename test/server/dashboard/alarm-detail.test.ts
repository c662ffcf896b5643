import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detailRows, detailSummary, detailView, formatMode, formatSize, nsToIso } from '../../../server/dashboard/alarm-detail.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const text = (rows: ReturnType<typeof detailRows>) => rows.map((r) => `${r.label}: ${r.value.value.replace(/<[^>]+>/g, '')}`);

test('a file change reads as old → new: short hashes, sizes, modes, ISO times', () => {
  const rows = detailRows({
    path: '/usr/sbin/cron',
    class: 'guarded',
    changes: {
      sha256: { old: A, new: B },
      size: { old: 52_000, new: 812 },
      mode: { old: 0o100755, new: 0o104755 },
      mtime: { old: '1764806400123456789', new: '1764810000000000000' },
    },
    fleet: { group: 'web', peers: 4, same: 0, outlier: true },
  });
  assert.deepEqual(text(rows), [
    'path: /usr/sbin/cron',
    'content (SHA-256): aaaaaaaaaaaa… → bbbbbbbbbbbb…',
    'size: 50.8 KiB (52,000 B) → 812 B',
    'mode: 0755 (rwxr-xr-x) → 4755 (rwsr-xr-x)',
    'modified (mtime): 2025-12-04T00:00:00.123Z → 2025-12-04T01:00:00.000Z',
    'fleet: outlier: none of the 4 other hosts of group web has this content',
    'class: guarded binary',
  ]);
  assert.ok(rows.find((r) => r.label === 'fleet')!.strong, 'the outlier verdict is marked to be read first');
  assert.match(rows[1]!.value.value, new RegExp(`title="${A}"`), 'the full hash stays in the title');
});

test('added and missing files, expected changes, liveness and the agent executable', () => {
  assert.deepEqual(
    text(detailRows({ path: '/etc/cron.d/x', class: 'normal', new: { type: 'file', size: 10, mode: 0o100644, uid: 0 }, fleet: { group: 'web', peers: 0, same: 0 } })),
    ['path: /etc/cron.d/x', 'type: file', 'size: 10 B', 'mode: 0644 (rw-r--r--)', 'owner (uid): 0', 'fleet: no other host of group web reports this path'],
  );
  assert.deepEqual(text(detailRows({ path: '/bin/ls', class: 'guarded', old: { size: 1 } })).slice(1, 2), ['size (was): 1 B']);
  assert.deepEqual(
    text(detailRows({ path: '/bin/ls', changes: { sha256: { old: A, new: B } }, expected: { sample: 'web0', sha256: B }, fleet: { group: 'web', peers: 3, same: 2 } })).at(-1),
    ['fleet: expected: sample host web0 accepted this very content'][0],
  );
  assert.deepEqual(text(detailRows({ from: 'up', to: 'missing', lastSeen: 1_764_806_400_000 })), ['from → to: up → missing', 'last heartbeat: 2025-12-04T00:00:00Z']);
  assert.deepEqual(text(detailRows({ old: { sha256: A }, new: { sha256: B } })), ['content (SHA-256): aaaaaaaaaaaa… → bbbbbbbbbbbb…']);
});

test('agent-supplied text is escaped, its controls and bidi marks shown, and no raw JSON of nanoseconds is left', () => {
  const html = detailView({ path: '/etc/<script>x</script>\u202e\n', changes: { target: { old: '"><img src=x>', new: 'b' } }, note: { ctimeNs: '1764806400123456789' } }).value;
  assert.ok(!html.includes('<script>') && !html.includes('<img'), html);
  assert.ok(html.includes('&lt;script&gt;') && html.includes('\\u202e\\n'), html);
  assert.ok(!detailSummary({ changes: { ctime: { old: '1764806400123456789', new: '1764806400999999999' } } }).value.includes('1764806400'), 'nanoseconds become ISO times');
});

test('the helpers: sizes, modes with special bits, nanosecond times', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(3 * 1024 * 1024), '3.0 MiB (3,145,728 B)');
  assert.equal(formatMode(0o41777), '1777 (rwxrwxrwt)');
  assert.equal(formatMode(0o102644), '2644 (rw-r-Sr--)');
  assert.equal(nsToIso('0'), '1970-01-01T00:00:00.000Z');
  assert.equal(nsToIso('not a number'), null);
  assert.equal(
    detailSummary({ path: '/x', changes: { size: { old: 1, new: 2 }, uid: { old: 0, new: 1 }, gid: { old: 0, new: 1 }, nlink: { old: 1, new: 2 } } }).value.includes('(+1 more)'),
    true,
  );
});
