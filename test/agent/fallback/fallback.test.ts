import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { AgentConfigSchema } from '../../../agent/config.ts';
import { FallbackWriter } from '../../../agent/fallback/fallback-writer.ts';
import { findingLines, MAX_LINES_PER_RECORD } from '../../../agent/fallback/finding-lines.ts';
import { SINKS } from '../../../agent/fallback/registry.ts';
import { createLogger } from '../../../shared/log.ts';
import type { RecordBody, SpoolRecord } from '../../../shared/protocol.ts';
import { recordHash } from '../../../shared/spool-chain.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

const log = createLogger('test', { level: 'silent' });
const file = (path: string) => fileEntry(path, { class: 'critical', sha256: 'b'.repeat(64) });
function rec(body: RecordBody, n = 7): SpoolRecord {
  const p = { n, prev: '0'.repeat(64), origin: { bootId: '11111111-2222-4333-8444-555555555555', seq: 1, at: 1 }, severity: 'critical' as const, body };
  return { ...p, hash: recordHash(p) };
}
const ev = (paths: string[]): RecordBody => ({ kind: 'event', files: paths.map(file), gone: [], daemons: [], mounts: [], notes: [] });

test('finding lines: greppable prefix, host, kind, subject, short hash; long events capped', () => {
  const r = rec(ev(['/usr/sbin/cron', '/etc/with space']));
  const lines = findingLines('web1', r);
  assert.equal(lines[0]!.text, `tripwarden: host=web1 kind=file-changed subject=/usr/sbin/cron hash=${r.hash.slice(0, 12)} n=7 sha256=bbbbbbbbbbbb`);
  assert.match(lines[1]!.text, /subject="\/etc\/with space"/);
  assert.equal(lines[0]!.severity, 'critical');
  const many = findingLines('web1', rec(ev(Array.from({ length: 50 }, (_, i) => `/f${i}`))));
  assert.equal(many.length, MAX_LINES_PER_RECORD + 1);
  assert.match(many.at(-1)!.text, /30-more-findings/);
  const lost = findingLines('web1', rec({ kind: 'network-lost', startedAt: 0, endedAt: 1000, reasons: ['default route (IPv4) gone'] }));
  assert.match(lost[0]!.text, /kind=network-lost subject="default route \(IPv4\) gone" .* started=1970-01-01T00:00:00.000Z ended=1970-01-01T00:00:01.000Z/);
});

test('the registry: each spec to its sink; config accepts paths and syslog URLs, refuses the rest naming the key', () => {
  const which = (spec: string) => SINKS.find((s) => s.matches(spec))!.describe;
  assert.equal(which('/dev/kmsg'), '/dev/kmsg');
  assert.match(which('/dev/ttyS0'), /serial/);
  assert.match(which('/dev/pts/3'), /serial/);
  assert.match(which('/dev/usb/lp0'), /printer/);
  assert.match(which('/dev/log'), /local syslog/);
  assert.match(which('syslog+tcp://10.0.0.1:514'), /remote syslog/);
  assert.match(which('/var/log/tw.log'), /file/);
  const base = { server: 'wss://h:7443' };
  assert.ok(AgentConfigSchema.safeParse({ ...base, fallback: ['/dev/kmsg', 'syslog+udp://127.0.0.1:514', 'syslog+unix:///dev/log'] }).success);
  const bad = AgentConfigSchema.safeParse({ ...base, fallback: ['kmsg'] });
  assert.ok(!bad.success && bad.error.issues[0]!.path.join('.') === 'fallback.0');
});

test('file sink (0600, one line each) and a failing sink reported once', () => {
  const dir = tempDir();
  const path = join(dir, 'fallback.log');
  const failed: string[] = [];
  const w = new FallbackWriter({ specs: [path, '/dev/ttyTWNOSUCH'], log, host: 'h', onSinkFailed: (s) => failed.push(s) });
  try {
    w.writeRecord(rec(ev(['/a'])));
    w.writeRecord(rec(ev(['/b']), 8));
    const text = readFileSync(path, 'utf8');
    assert.equal(text.split('\n').filter(Boolean).length, 2);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(failed, ['/dev/ttyTWNOSUCH']);
  } finally {
    w.close();
    spawnSync('chattr', ['-a', path], { stdio: 'ignore' });
  }
});

test('remote syslog over UDP and TCP: RFC 5424, TCP with octet counting', async () => {
  const udp = createSocket('udp4');
  const got: string[] = [];
  udp.on('message', (m) => got.push(m.toString()));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  let tcpData = '';
  const srv = createServer((s) =>
    s.on('data', (d) => {
      tcpData += d.toString();
    }),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const uport = udp.address().port;
  const tport = (srv.address() as { port: number }).port;
  const w = new FallbackWriter({ specs: [`syslog+udp://127.0.0.1:${uport}`, `syslog+tcp://127.0.0.1:${tport}`], log, host: 'h' });
  try {
    w.writeRecord(rec(ev(['/etc/passwd'])));
    await waitFor(() => got.length === 1 && tcpData.length > 0, { what: 'both syslog messages' });
    assert.match(got[0]!, /^<34>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ tripwarden-agent \d+ finding - tripwarden: host=h kind=file-changed subject=\/etc\/passwd /);
    const m = /^(\d+) (.*)$/s.exec(tcpData)!;
    assert.equal(Number(m[1]), Buffer.byteLength(m[2]!));
    assert.equal(m[2], got[0]!.replace(/^(<34>1 )\S+/, `$1${m[2]!.split(' ')[1]}`));
  } finally {
    w.close();
    udp.close();
    srv.close();
  }
});

test('local syslog through logger on a unix datagram socket', { skip: spawnSync('logger', ['--version']).status !== 0 ? 'logger (util-linux) not installed' : false }, async () => {
  const sock = join(tempDir(), 'log.sock');
  // Node has no unix datagram sockets: a small python reader stands in for syslogd.
  const py = spawn(
    'python3',
    [
      '-c',
      `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print('ready', flush=True)
while True: print(s.recv(4096).decode(), flush=True)
`,
      sock,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  const rl = createInterface({ input: py.stdout! });
  rl.on('line', (l) => lines.push(l));
  try {
    await waitFor(() => lines.includes('ready'), { what: 'the python socket' });
    const w = new FallbackWriter({ specs: [`syslog+unix://${sock}`], log, host: 'h' });
    w.writeRecord(rec(ev(['/etc/shadow'])));
    const l = await waitFor(() => lines.find((x) => x.includes('tripwarden: host=h')), { what: 'the syslog datagram' });
    assert.match(l, /^<34>.*tripwarden: host=h kind=file-changed subject=\/etc\/shadow/);
    w.close();
  } finally {
    py.kill('SIGTERM'); // the helper this test started
  }
});
