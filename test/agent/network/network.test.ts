import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { NetworkWatch, procRoutes, type RouteTables } from '../../../agent/network/network-watch.ts';
import { hasDefault, parseIPv4Routes, parseIPv6Routes, routeFor } from '../../../agent/network/route-table.ts';
import { createLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

const log = createLogger('test', { level: 'silent' });
const V4_HEAD = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
const V4_DEFAULT = 'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
const V4_LAN = 'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
const V6_DEFAULT = '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n';
const V6_REJECT = '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n';

test('route tables: IPv4 little-endian hex, IPv6 prefixes, reject routes ignored, longest prefix wins', () => {
  const r4 = parseIPv4Routes(V4_HEAD + V4_DEFAULT + V4_LAN);
  assert.equal(r4.length, 2);
  assert.ok(hasDefault(r4, 4));
  assert.equal(routeFor(r4, '192.0.2.77')!.prefix, 24);
  assert.equal(routeFor(r4, '8.8.8.8')!.prefix, 0);
  const r6 = parseIPv6Routes(V6_REJECT);
  assert.equal(hasDefault(r6, 6), false, "the kernel's unreachable default on lo is no route");
  assert.ok(hasDefault(parseIPv6Routes(V6_DEFAULT), 6));
  assert.equal(routeFor(parseIPv6Routes(V6_DEFAULT), '2001:db8::1')!.iface, 'eth0');
  // This host's own tables parse (whatever they hold).
  const t = procRoutes();
  if (t.v4) parseIPv4Routes(t.v4);
  if (t.v6) parseIPv6Routes(t.v6);
});

function watch(tables: { t: RouteTables }, o: { up?: Set<string>; since?: () => number | null; clock?: FakeClock; host?: string | (() => string) } = {}) {
  const events: string[] = [];
  const clock = o.clock ?? new FakeClock();
  const w = new NetworkWatch({
    serverHost: o.host ?? '192.0.2.10',
    intervalMs: 1000,
    clock,
    log,
    disconnectedSince: o.since ?? (() => null),
    routes: () => tables.t,
    linkUp: (i) => i === 'lo' || (o.up ?? new Set(['eth0'])).has(i),
    onLost: (_s, r) => events.push(`lost ${r.join('; ')}`),
    onRestored: (s, e) => events.push(`restored ${e - s}`),
  });
  return { w, events, clock };
}

test('the default route removed (injected route source): network-lost opens, and ends when it is back', async () => {
  const tables = { t: { v4: V4_HEAD + V4_DEFAULT + V4_LAN, v6: '' } as RouteTables };
  const { w, events, clock } = watch(tables, { host: '203.0.113.5' });
  await w.check();
  assert.deepEqual(events, []);
  tables.t = { v4: V4_HEAD + V4_LAN, v6: '' };
  await w.check();
  assert.deepEqual(events, ['lost default route (IPv4) gone; no route to the server (203.0.113.5)']);
  await w.check();
  assert.equal(events.length, 1, 'opened once');
  clock.advance(5000);
  tables.t = { v4: V4_HEAD + V4_DEFAULT + V4_LAN, v6: '' };
  await w.check();
  assert.deepEqual(events.slice(1), ['restored 5000']);
});

test('the link of the route to the server down, and the server unreachable for longer than the interval', async () => {
  const up = new Set(['eth0']);
  const tables = { t: { v4: V4_HEAD + V4_LAN, v6: '' } as RouteTables };
  const { w, events } = watch(tables, { up });
  await w.check();
  up.delete('eth0');
  await w.check();
  assert.deepEqual(events, ['lost link eth0 to the server is down']);
  const clock = new FakeClock(10_000);
  let since: number | null = 10_000;
  const s = watch({ t: { v4: V4_HEAD + V4_LAN, v6: '' } }, { clock, since: () => since });
  await s.w.check();
  assert.deepEqual(s.events, [], 'within the interval');
  clock.advance(1500);
  await s.w.check();
  assert.deepEqual(s.events, ['lost server unreachable for 2s']);
  since = null;
  await s.w.check();
  assert.deepEqual(s.events.slice(1), ['restored 1500']);
});

test('with a server list the route watched is the route to the server the link dials now', async () => {
  let now = '203.0.113.5';
  const { w, events, clock } = watch({ t: { v4: V4_HEAD + V4_LAN, v6: '' } }, { host: () => now });
  await w.check();
  assert.deepEqual(events, ['lost no route to the server (203.0.113.5)']);
  // The link failed over to a server this host has a route to.
  now = '192.0.2.10';
  clock.advance(2000);
  await w.check();
  assert.deepEqual(events.slice(1), ['restored 2000']);
});

test('a loopback server is always routed', async () => {
  const { w, events } = watch({ t: { v4: V4_HEAD, v6: '' } }, { host: '127.0.0.1' });
  await w.check();
  assert.deepEqual(events, []);
});

const netnsSkip =
  process.getuid?.() !== 0 ? 'not root: the injected route source above covers route loss' : spawnSync('ip', ['-V']).status !== 0 ? 'iproute2 (ip) is not installed' : '';

test("route loss in a real network namespace (ip netns): the watch sees the kernel's tables", { skip: netnsSkip || false }, async () => {
  const ns = `tw-test-${process.pid}`;
  const ip = (...a: string[]) => spawnSync('ip', a, { encoding: 'utf8' });
  const inNs = (...a: string[]) => ip('netns', 'exec', ns, ...a);
  const made = ip('netns', 'add', ns);
  if (made.status !== 0) {
    console.log(`# skipped the namespace part: ip netns add failed (${made.stderr.trim()})`);
    return;
  }
  try {
    assert.equal(inNs('ip', 'link', 'set', 'lo', 'up').status, 0);
    // A dummy link when the kernel has the module; else the default route goes through lo itself.
    let dev = 'tw0';
    if (inNs('ip', 'link', 'add', 'tw0', 'type', 'dummy').status !== 0) {
      dev = 'lo';
      console.log("# no dummy links in this kernel: the namespace's default route goes through lo");
    }
    for (const cmd of [
      ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', dev],
      ['ip', 'link', 'set', dev, 'up'],
      ['ip', 'route', 'add', 'default', 'dev', dev],
    ]) {
      const r = inNs(...cmd);
      assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
    }
    const read = () => ({ v4: inNs('cat', '/proc/net/route').stdout, v6: inNs('cat', '/proc/net/ipv6_route').stdout });
    const tables = { t: read() };
    const { w, events } = watch(tables, { host: '198.51.100.9', up: new Set([dev]) });
    await w.check();
    assert.deepEqual(events, []);
    assert.equal(inNs('ip', 'route', 'del', 'default').status, 0);
    tables.t = read();
    await w.check();
    assert.deepEqual(events, ['lost default route (IPv4) gone; no route to the server (198.51.100.9)']);
    assert.equal(inNs('ip', 'route', 'add', 'default', 'dev', dev).status, 0);
    tables.t = read();
    await w.check();
    assert.match(events[1]!, /^restored/);
  } finally {
    ip('netns', 'del', ns);
  }
});
