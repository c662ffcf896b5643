import { isIP } from 'node:net';

/** One usable route of the main table (IPv4 or IPv6). */
export interface Route {
  family: 4 | 6;
  iface: string;
  /** Destination network, as a big integer (IPv4 in 32 bits, IPv6 in 128). */
  dest: bigint;
  prefix: number;
}

const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

/** Parses /proc/net/route (hex, little-endian fields); keeps routes that are up. */
export function parseIPv4Routes(text: string): Route[] {
  const out: Route[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const flags = parseInt(f[3]!, 16);
    if (!(flags & RTF_UP) || flags & RTF_REJECT) continue;
    const dest = swap32(parseInt(f[1]!, 16));
    const mask = swap32(parseInt(f[7]!, 16));
    out.push({ family: 4, iface: f[0]!, dest: BigInt(dest), prefix: popcount(mask) });
  }
  return out;
}

/** Parses /proc/net/ipv6_route; drops reject routes (the kernel's "unreachable" defaults on lo). */
export function parseIPv6Routes(text: string): Route[] {
  const out: Route[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const flags = parseInt(f[8]!, 16);
    if (!(flags & RTF_UP) || flags & RTF_REJECT) continue;
    out.push({ family: 6, iface: f[9]!, dest: BigInt(`0x${f[0]!}`), prefix: parseInt(f[1]!, 16) });
  }
  return out;
}

/** Whether a family has a default route (prefix 0). */
export function hasDefault(routes: Route[], family: 4 | 6): boolean {
  return routes.some((r) => r.family === family && r.prefix === 0);
}

/** The longest-prefix route for an address, or null. */
export function routeFor(routes: Route[], addr: string): Route | null {
  const fam = isIP(addr);
  if (fam !== 4 && fam !== 6) return null;
  const bits = fam === 4 ? 32 : 128;
  const a = fam === 4 ? ipv4ToBig(addr) : ipv6ToBig(addr);
  let best: Route | null = null;
  for (const r of routes) {
    if (r.family !== fam) continue;
    const mask = r.prefix === 0 ? 0n : ((1n << BigInt(r.prefix)) - 1n) << BigInt(bits - r.prefix);
    if ((a & mask) === (r.dest & mask) && (!best || r.prefix > best.prefix)) best = r;
  }
  return best;
}

/** Loopback addresses are routed by the kernel's local table, which /proc/net/route does not show. */
export function isLoopback(addr: string): boolean {
  return isIP(addr) === 4 ? addr.startsWith('127.') : addr === '::1' || /^::ffff:127\./i.test(addr);
}

function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n >>> 0; x; x >>>= 1) c += x & 1;
  return c;
}

function ipv4ToBig(a: string): bigint {
  return a.split('.').reduce((acc, p) => (acc << 8n) + BigInt(Number(p)), 0n);
}

function ipv6ToBig(a: string): bigint {
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = ipv4ToBig(v4[1]!);
    s = `${s.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}
