import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CheckContext } from '../../../agent/checks/check.ts';
import { decodeAddress, PortsCheck, parseProcNet, readSocketTables, readTcpListenSection, socketOwners, socketsInUse } from '../../../agent/checks/ports.ts';
import type { Clock } from '../../../shared/clock.ts';
import type { PortEntry } from '../../../shared/protocol.ts';
import { portKey } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

// Lines as the kernel prints them (little-endian host): 127.0.0.1:8080 LISTEN, an established
// connection, a closed socket with inode 0, and an IPv6 any-address listener on 22.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 778 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 779 2 0000000000000000 0
`;

test('/proc/net tables: LISTEN for TCP, bound for UDP, addresses in host byte order decoded', () => {
  assert.deepEqual(parseProcNet(TCP, 'tcp', true), [{ proto: 'tcp', addr: '127.0.0.1', port: 8080, uid: 0, inode: '4242' }]);
  assert.deepEqual(
    parseProcNet(TCP6, 'tcp6', true).map((s) => [s.addr, s.port, s.uid]),
    [
      ['::', 22, 0],
      ['::1', 631, 101],
    ],
  );
  assert.deepEqual(
    parseProcNet(TCP6, 'udp6', true).map((s) => [s.addr, s.port]),
    [['::ffff:127.0.0.1', 53]],
    'UDP state 07: bound, unconnected',
  );
  assert.equal(decodeAddress('0100007F', false), '1.0.0.127', 'big-endian hosts print in order');
  assert.equal(decodeAddress('B80D0120000000000000000001000000', true), '2001:db8::1');
  assert.equal(portKey({ proto: 'tcp6', addr: '::1', port: 22 }), 'tcp6/[::1]:22');
  assert.equal(portKey({ proto: 'udp', addr: '0.0.0.0', port: 53 }), 'udp/0.0.0.0:53');
});

const ctx = (ports = true, portSettle = 0, clock: Clock = new FakeClock()) => ({ cfg: { ports, portSettle }, clock, log: { warn: () => undefined } }) as unknown as CheckContext;

/** A real TCP listener on 127.0.0.1, its key, and how to close it. */
async function listen(): Promise<{ key: string; close: () => Promise<void> }> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { key: `tcp/127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => s.close(() => r())) };
}

const keysOf = async (check: PortsCheck) => (await check.measure()).map((i) => i.key);

test('a real listener and a bound UDP socket are measured with the owning process', async (t) => {
  // A child with a distinctive name (process.title sets /proc/PID/comm) listening on TCP and UDP.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `
    process.title = 'twportprobe';
    const net = require('node:net'), dgram = require('node:dgram');
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const u = dgram.createSocket('udp4');
      u.bind(0, '127.0.0.1', () => console.log(JSON.stringify({ tcp: s.address().port, udp: u.address().port })));
    });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const ports = await waitFor(() => (out.includes('\n') ? (JSON.parse(out) as { tcp: number; udp: number }) : undefined), { what: 'the child listening' });
  const check = new PortsCheck(ctx());
  const items = await check.measure();
  const tcp = items.find((i) => i.key === `tcp/127.0.0.1:${ports.tcp}`)?.value as PortEntry | undefined;
  assert.ok(tcp, 'the TCP listener is reported');
  assert.equal(tcp.process, 'twportprobe');
  assert.deepEqual(tcp.pids, [child.pid]);
  const udp = items.find((i) => i.key === `udp/127.0.0.1:${ports.udp}`)?.value as PortEntry | undefined;
  assert.equal(udp?.process, 'twportprobe');
  assert.deepEqual(
    items.map((i) => i.key),
    [...items.map((i) => i.key)].sort(),
    'sorted by key',
  );

  // Our own UDP socket, and then gone again when closed.
  const mine = createSocket('udp4');
  await new Promise<void>((r) => mine.bind(0, '127.0.0.1', () => r()));
  const key = `udp/127.0.0.1:${mine.address().port}`;
  assert.equal(((await check.measure()).find((i) => i.key === key)!.value as PortEntry).process, readFileSync('/proc/self/comm', 'utf8').trim());
  await new Promise<void>((r) => mine.close(() => r()));
  assert.equal(
    (await check.measure()).find((i) => i.key === key),
    undefined,
  );

  assert.deepEqual(await new PortsCheck(ctx(false)).measure(), [], '`ports: false` in the agent config measures nothing');
});

test('TCP tables are read only up to the end of the listening section, which the kernel prints first', () => {
  const d = tempDir('tw-ports-');
  const line = (i: number, st: string, inode: number) =>
    `${`${String(i).padStart(4)}: 0100007F:${(1000 + i).toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`.padEnd(
      149,
    )}\n`;
  const header = `${TCP.split('\n')[0]!.padEnd(149)}\n`;
  // 40 listeners (longer than one read), then 500 connections that are not read.
  let text = header;
  for (let i = 0; i < 40; i++) text += line(i, '0A', 5000 + i);
  for (let i = 40; i < 540; i++) text += line(i, '01', 9000 + i);
  writeFileSync(join(d, 'tcp'), text);
  const head = readTcpListenSection(join(d, 'tcp'));
  assert.ok(head.length < 44 * 150, `stopped early (${head.length} bytes read)`);
  assert.deepEqual(
    parseProcNet(head, 'tcp', true).map((s) => s.inode),
    parseProcNet(text, 'tcp', true).map((s) => s.inode),
  );
  assert.equal(parseProcNet(head, 'tcp', true).length, 40);
  // Only listeners (or nothing at all): the whole file.
  writeFileSync(join(d, 'tcp2'), header + line(0, '0A', 1) + line(1, '0A', 2));
  assert.equal(parseProcNet(readTcpListenSection(join(d, 'tcp2')), 'tcp', true).length, 2);
});

test('a table the kernel counts no sockets in (sockstat "inuse 0") is not read', async () => {
  const d = tempDir('tw-ports-');
  mkdirSync(join(d, 'net'));
  writeFileSync(join(d, 'net', 'tcp'), TCP);
  writeFileSync(join(d, 'net', 'tcp6'), TCP6); // listeners on :22 and :631, not reported: sockstat6 counts no TCP6 socket
  writeFileSync(join(d, 'net', 'udp6'), TCP6);
  writeFileSync(join(d, 'net', 'sockstat'), 'sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 2 mem 0\nUDP: inuse 0 mem 0\n');
  writeFileSync(join(d, 'net', 'sockstat6'), 'TCP6: inuse 0\nUDP6: inuse 1\n');
  assert.deepEqual([...socketsInUse(d)].sort(), [
    ['tcp', 2],
    ['tcp6', 0],
    ['udp', 0],
    ['udp6', 1],
  ]);
  const keys = (await new PortsCheck(ctx(), d).measure()).map((i) => i.key);
  assert.deepEqual(keys, ['tcp/127.0.0.1:8080', 'udp6/[::ffff:127.0.0.1]:53'].sort());
  assert.deepEqual(socketsInUse(join(d, 'missing')), new Map(), 'no sockstat: every table is read');
});

test('unchanged tables measure as before without being parsed again; a listener taken over on the same port (a new inode) is re-measured at once', async () => {
  const d = tempDir('tw-ports-');
  mkdirSync(join(d, 'net'));
  writeFileSync(join(d, 'net', 'sockstat'), 'TCP: inuse 1\n');
  writeFileSync(join(d, 'net', 'tcp'), TCP);
  // Socket 4242 is this process's; no process holds 4343.
  mkdirSync(join(d, '77', 'fd'), { recursive: true });
  symlinkSync('socket:[4242]', join(d, '77', 'fd', '3'));
  writeFileSync(join(d, '77', 'comm'), 'sshd\n');
  const check = new PortsCheck(ctx(true, 30_000), d);
  const first = await check.measure();
  assert.deepEqual(
    first.map((i) => [i.key, (i.value as PortEntry).process]),
    [['tcp/127.0.0.1:8080', 'sshd']],
  );
  assert.equal(await check.measure(), first, 'the same tables: the last measurement, not a new one');
  writeFileSync(join(d, 'net', 'tcp'), TCP.replace(' 4242 ', ' 4343 '));
  const taken = await check.measure();
  assert.deepEqual(
    taken.map((i) => [i.key, (i.value as PortEntry).process, (i.value as PortEntry).pids]),
    [['tcp/127.0.0.1:8080', '', []]],
    'another socket on the port: its owner looked up again',
  );
});

test('a new listener is reported only once it has lived portSettle; one gone sooner never is', async (t) => {
  const clock = new FakeClock();
  const check = new PortsCheck(ctx(true, 30_000, clock));
  await check.measure(); // agent start: what listens now is reported at once

  // (a) opened and closed within the settle time: never in the output.
  const brief = await listen();
  assert.ok(!(await keysOf(check)).includes(brief.key), 'not reported while young');
  clock.advance(10_000);
  assert.ok(!(await keysOf(check)).includes(brief.key));
  await brief.close();
  clock.advance(10_000);
  assert.ok(!(await keysOf(check)).includes(brief.key), 'gone before settling: never reported');
  clock.advance(60_000);
  assert.ok(!(await keysOf(check)).includes(brief.key));

  // (b) one that stays: reported once the settle time has passed, not before.
  const stays = await listen();
  t.after(() => stays.close());
  assert.ok(!(await keysOf(check)).includes(stays.key));
  clock.advance(29_999);
  assert.ok(!(await keysOf(check)).includes(stays.key), 'not a millisecond early');
  clock.advance(1);
  assert.ok((await keysOf(check)).includes(stays.key), 'reported at 30 s');
  clock.advance(1_000);
  assert.ok((await keysOf(check)).includes(stays.key), 'and stays reported');

  // A reported listener that closes is gone at once (no delay on closing).
  await stays.close();
  assert.ok(!(await keysOf(check)).includes(stays.key), 'closing is reported at once');
});

test('a port that closes and reopens within the settle time keeps its first sighting', async () => {
  const clock = new FakeClock();
  const check = new PortsCheck(ctx(true, 30_000, clock));
  await check.measure();
  const first = await listen();
  await check.measure();
  const port = Number(first.key.split(':').pop());
  await first.close();
  clock.advance(20_000);
  assert.ok(!(await keysOf(check)).includes(first.key));
  // The same port again, 20 s after it was first seen: 10 s more and it has been around for the settle time.
  const again = createServer();
  await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
  try {
    assert.ok(!(await keysOf(check)).includes(first.key));
    clock.advance(10_000);
    assert.ok((await keysOf(check)).includes(first.key), 'flapping on one port does not reset the settle time');
  } finally {
    await new Promise<void>((r) => again.close(() => r()));
  }
});

test('portSettle 0s reports a new listener at once, as before', async (t) => {
  const clock = new FakeClock();
  const check = new PortsCheck(ctx(true, 0, clock));
  await check.measure();
  const l = await listen();
  t.after(() => l.close());
  assert.ok((await keysOf(check)).includes(l.key), 'reported on the first measurement after it opened');
});

test('a settling listener costs no walk of the fds: its owner is looked up when it is reported, as it is then', async () => {
  // A /proc laid out by hand: the listener's table line first, the process holding it only later.
  const proc = tempDir('tw-ports-proc-');
  mkdirSync(join(proc, 'net'));
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const table = (lines: string) => {
    writeFileSync(join(proc, 'net/tcp'), header + lines);
    writeFileSync(join(proc, 'net/sockstat'), `TCP: inuse ${lines ? 1 : 0}\nUDP: inuse 0\n`);
  };
  writeFileSync(join(proc, 'net/sockstat6'), 'TCP6: inuse 0\nUDP6: inuse 0\n');
  table('');
  const clock = new FakeClock();
  const check = new PortsCheck(ctx(true, 30_000, clock), proc);
  assert.deepEqual(await keysOf(check), []);
  table('   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9191 1 0000000000000000 100 0 0 10 0\n');
  assert.deepEqual(await keysOf(check), [], 'settling');
  // The socket passes to another process while it settles (a launcher hands it to the daemon).
  mkdirSync(join(proc, '4242/fd'), { recursive: true });
  writeFileSync(join(proc, '4242/comm'), 'backdoor\n');
  symlinkSync('socket:[9191]', join(proc, '4242/fd/3'));
  clock.advance(30_000);
  const items = await check.measure();
  assert.deepEqual(
    items.map((i) => [i.key, (i.value as PortEntry).process, (i.value as PortEntry).pids]),
    [['tcp/127.0.0.1:8080', 'backdoor', [4242]]],
    'attributed to the holder at report time',
  );
});

test('the owner walk looks where an owner most likely is and stops at the first holder; `all` lists every holder', () => {
  // A forked server: 10 and 99 both hold socket 5151; 50 holds nothing of interest.
  const proc = tempDir('tw-ports-walk-');
  for (const [pid, links] of [
    [10, ['socket:[5151]', 'pipe:[1]']],
    [50, ['socket:[6262]']],
    [99, ['socket:[5151]']],
  ] as const) {
    mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
    for (const [i, l] of links.entries()) symlinkSync(l, join(proc, String(pid), 'fd', String(i + 3)));
  }
  const want = new Set(['5151']);
  assert.deepEqual(socketOwners(want, proc), new Map([['5151', [99]]]), 'newest first: the walk stops at 99');
  assert.deepEqual(socketOwners(want, proc, { likely: [10] }), new Map([['5151', [10]]]), 'a process that held a listener before is looked at first');
  assert.deepEqual(socketOwners(want, proc, { all: true }), new Map([['5151', [99, 10]]]), 'every holder when asked');
  assert.deepEqual(socketOwners(new Set(['5151', '7373']), proc), new Map([['5151', [99, 10]]]), 'an owner not found: the whole walk');
});

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** A child node process running `code`, which prints one JSON line when ready; its pid and that line. */
async function child<T>(t: { after: (fn: () => void) => void }, code: string, opts: { uid?: number; ipc?: boolean } = {}) {
  const c = spawn(process.execPath, ['-e', code], {
    cwd: '/',
    stdio: ['ignore', 'pipe', 'inherit', ...(opts.ipc ? (['ipc'] as const) : [])],
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  });
  t.after(() => c.kill('SIGKILL'));
  let out = '';
  c.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const ready = () => waitFor(() => (out.includes('\n') ? (JSON.parse(out) as T) : undefined), { what: 'the child ready' });
  return { proc: c, pid: c.pid!, ready };
}

/** The inode and uid of the TCP listener on 127.0.0.1:port, from the real /proc/net/tcp. */
function listenerOn(port: number): { inode: string; uid: number } {
  const s = readSocketTables().find((x) => x.proto === 'tcp' && x.addr === '127.0.0.1' && x.port === port);
  assert.ok(s, `a listener on ${port}`);
  return { inode: s.inode, uid: s.uid };
}

const LISTENER = `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: s.address().port })));`;

test("the owner walk reads only the processes of the socket's uid, newest first, and still finds the holder", {
  skip: !asRoot && 'needs root to start a process as another user',
}, async (t) => {
  // The other user's listener gets the higher pid, which a walk by age alone reads first. Pids wrap (at 32,768 by
  // default): a pair that straddles the wrap is started again.
  let root = await child<{ port: number }>(t, LISTENER);
  let nobody = await child<{ port: number }>(t, LISTENER, { uid: NOBODY });
  for (let tries = 0; nobody.pid < root.pid && tries < 3; tries++) {
    root.proc.kill('SIGKILL');
    nobody.proc.kill('SIGKILL');
    root = await child<{ port: number }>(t, LISTENER);
    nobody = await child<{ port: number }>(t, LISTENER, { uid: NOBODY });
  }
  const rootPort = (await root.ready()).port;
  const nobodyPort = (await nobody.ready()).port;
  assert.ok(nobody.pid > root.pid, "the other user's process is the newer");
  const r = listenerOn(rootPort);
  assert.equal(r.uid, 0);

  const byAge: number[] = [];
  socketOwners(new Set([r.inode]), '/proc', { walked: byAge });
  assert.ok(byAge.includes(nobody.pid), 'without the uid, the walk reads the newer process of another user');

  const walked: number[] = [];
  assert.deepEqual(socketOwners(new Map([[r.inode, 0]]), '/proc', { walked }), new Map([[r.inode, [root.pid]]]));
  assert.ok(!walked.includes(nobody.pid), 'a process of another uid is not read');
  assert.equal(walked.at(-1), root.pid, 'the walk stops at the holder');
  for (const pid of walked.filter((p) => p !== root.pid)) assert.ok(pid > root.pid, `newest first: ${pid} before ${root.pid}`);

  const n = listenerOn(nobodyPort);
  assert.equal(n.uid, NOBODY);
  const walkedN: number[] = [];
  assert.deepEqual(socketOwners(new Map([[n.inode, NOBODY]]), '/proc', { walked: walkedN }), new Map([[n.inode, [nobody.pid]]]));
  assert.ok(!walkedN.includes(root.pid), "root's processes are not read for a socket of nobody");
});

test("a listener whose holder is not of the socket's uid is still found: one handed to another user, one opened before dropping to it", {
  skip: !asRoot && 'needs root to start a process as another user',
}, async (t) => {
  // Handed over: this (root) process opens the socket, passes it to a child running as nobody, and closes its copy.
  const holder = await child<{ got: boolean }>(t, `process.on('message', (m, server) => { server.on('error', () => {}); console.log(JSON.stringify({ got: true })); });`, {
    uid: NOBODY,
    ipc: true,
  });
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const handed = (server.address() as AddressInfo).port;
  holder.proc.send('server', server);
  await holder.ready();
  await new Promise<void>((r) => server.close(() => r()));
  const h = listenerOn(handed);
  assert.equal(h.uid, 0, "the socket keeps its creator's uid");
  assert.deepEqual(socketOwners(new Map([[h.inode, 0]])), new Map([[h.inode, [holder.pid]]]), 'found by the second pass');

  // Dropped: a child that listens as root, then becomes nobody.
  const dropped = await child<{ port: number; uid: number }>(
    t,
    `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { process.setgid(${NOBODY}); process.setuid(${NOBODY}); console.log(JSON.stringify({ port: s.address().port, uid: process.getuid() })); });`,
  );
  const d = await dropped.ready();
  assert.equal(d.uid, NOBODY);
  const ds = listenerOn(d.port);
  assert.equal(ds.uid, 0);
  assert.deepEqual(socketOwners(new Map([[ds.inode, 0]])), new Map([[ds.inode, [dropped.pid]]]));

  // Through the check: both reported with their holder's name and pid.
  const items = await new PortsCheck(ctx()).measure();
  const pidsOf = (port: number) => (items.find((i) => i.key === `tcp/127.0.0.1:${port}`)?.value as PortEntry | undefined)?.pids;
  assert.deepEqual(pidsOf(handed), [holder.pid]);
  assert.deepEqual(pidsOf(d.port), [dropped.pid]);
});
