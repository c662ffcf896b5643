import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { AlarmNotice } from '../../../server/alarms/channels/channel.ts';
import { formatDigestMail, formatNoticeMail } from '../../../server/alarms/channels/mail-format.ts';
import { openServerContext } from '../../../server/context.ts';
import { systemClock } from '../../../shared/clock.ts';
import { type BuiltServer, builtServer } from '../../helpers/built-server.ts';
import { tempDir } from '../../helpers/temp.ts';

let tripwarden: BuiltServer['run'];
/** A real data dir whose path needs quoting, with host web1 and alarm 1. */
let dir: string;

before(async () => {
  ({ run: tripwarden } = builtServer());
  dir = `${tempDir()}/data dir`;
  assert.equal(tripwarden(['init', '--dir', dir]).code, 0);
  const ctx = openServerContext(dir, systemClock);
  try {
    await ctx.sql.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('web1', 'web', 'pending', 'AA', ?)`, [Date.now()]);
    await ctx.alarms.open('web1', 'file-changed', '/etc/crontab', Date.now());
  } finally {
    await ctx.close();
  }
});

const notice = (kind: string, subject: string, detail: unknown): AlarmNotice => ({
  eventId: 1,
  action: 'open',
  at: 0,
  alarmId: 1,
  host: 'web1',
  group: 'web',
  kind,
  severity: 'critical',
  subject,
  detail,
  openedAt: 0,
  ackedAt: null,
  resolvedAt: null,
});

/** Splits a printed command line as a POSIX shell would (single quotes only: what shellWord prints). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

test('every command an alarm mail or digest prints is `tripwarden ...` and runs as printed, outside the checkout', () => {
  const notices = [
    notice('file-changed', '/etc/crontab', { path: '/etc/crontab', expected: { sample: 'web2' } }),
    notice('file-added', '/etc/cron.d/x', { path: '/etc/cron.d/x' }),
    notice('port-opened', 'tcp/0.0.0.0:22', null),
    notice('agent-tampered', '/usr/sbin/tripwarden-agent', null),
    notice('identity-clone', 'web1', null),
    notice('agent-missing', 'web1', null),
  ];
  const texts = [...notices.map((n) => formatNoticeMail(n, dir).text), formatDigestMail(notices, dir).text];
  const lines = texts.flatMap((t) => t.split('\n').flatMap((l) => /(?::\s+)(\S+ .*--dir .*)$/.exec(l)?.[1] ?? []));
  assert.ok(lines.length >= 8, `found ${lines.length} command lines`);
  const seen = new Set<string>();
  for (const line of lines) {
    assert.match(line, /^tripwarden [a-z]/, line);
    const argv = words(line)
      .slice(1)
      .map((w) => ({ ALARM_ID: '1', PATH: '/etc/crontab', GROUP: 'web' })[w] ?? w);
    seen.add(argv[0]!);
    const r = tripwarden(argv);
    // accept needs a running serve and says so (TW_HOST_OFFLINE); nothing may be refused for its arguments
    assert.doesNotMatch(r.stderr, /TW_ARGS|TW_DATA_DIR_MISSING|unknown command/, `${line}: ${r.stderr}`);
    assert.notEqual(r.code, 2, `${line}: ${r.stderr}`);
  }
  assert.deepEqual([...seen].sort(), ['accept', 'ack', 'alarms', 'maintenance', 'revoke']);
});
