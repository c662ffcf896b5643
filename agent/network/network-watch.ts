import { lookup } from 'node:dns/promises';
import { readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { writeFilePrivate } from '../../shared/secure-file.ts';
import { ProcFile } from '../checks/proc-file.ts';
import { hasDefault, isLoopback, parseIPv4Routes, parseIPv6Routes, type Route, routeFor } from './route-table.ts';

/** The route tables as the kernel prints them; null when a family's file cannot be read. */
export interface RouteTables {
  v4: string | null;
  v6: string | null;
}

/** Reads /proc/net/route and /proc/net/ipv6_route (kept open between calls). */
export const procRoutes: () => RouteTables = keptRoutes();

function keptRoutes(): () => RouteTables {
  const v4 = new ProcFile('/proc/net/route');
  const v6 = new ProcFile('/proc/net/ipv6_route');
  const read = (f: ProcFile) => {
    try {
      return f.read();
    } catch {
      return null;
    }
  };
  return () => ({ v4: read(v4), v6: read(v6) });
}

/** The `/sys/class/net` files read, kept open by path (few: the interfaces of the default routes and the server's). */
const linkFiles = new Map<string, ProcFile>();

/**
 * Whether an interface's link is up: `operstate` up (or `unknown`, which
 * virtual links such as dummies report), else `carrier` 1; loopback always is.
 */
export function sysLinkUp(iface: string): boolean {
  if (iface === 'lo') return true;
  const read = (f: string) => {
    const path = `/sys/class/net/${iface}/${f}`;
    let file = linkFiles.get(path);
    if (!file) {
      if (linkFiles.size >= 16) {
        for (const x of linkFiles.values()) x.close();
        linkFiles.clear();
      }
      file = new ProcFile(path);
      linkFiles.set(path, file);
    }
    try {
      return file.read().trim();
    } catch {
      return null;
    }
  };
  const state = read('operstate');
  if (state === 'up') return true;
  if (state === 'unknown') return read('carrier') !== '0';
  if (state === null) return false; // the interface is gone
  return false;
}

export interface NetworkWatchOptions {
  /** The server's host name or address (from the `server` URL); a function for the one the link dials now (a `server` list). */
  serverHost: string | (() => string);
  /** The agent's interval: the server unreachable for longer is a loss. */
  intervalMs: number;
  clock: Clock;
  log: Logger;
  /** Since when the server has been unreachable, or null while connected (the link's). */
  disconnectedSince: () => number | null;
  /** Since when the server has owed the agent a reply on a live connection (AgentLink.unansweredSince). */
  unansweredSince?: () => number | null;
  /** Route tables (injectable, so tests can remove routes). */
  routes?: () => RouteTables;
  linkUp?: (iface: string) => boolean;
  /** Resolves the server's name (a literal address is used as is). */
  resolve?: (host: string) => Promise<string[]>;
  /** Where an open finding is kept (0600), so one open when the agent stopped is closed by the next run. */
  stateFile?: string;
  onLost(startedAt: number, reasons: string[]): void;
  onRestored(startedAt: number, endedAt: number, reasons: string[]): void;
}

/**
 * Watches the path to the server: the default route of each family that had
 * one when the watch started, the route to the server's address, the link of
 * the interface each uses, and whether the server has been unreachable for
 * longer than the interval: disconnected, or connected but owing a reply
 * (a half-open link: a firewall that drops, a frozen server). Any of them lost opens one `network-lost`
 * finding; it ends when all are back and the link to the server is up.
 */
export class NetworkWatch {
  private readonly routes: () => RouteTables;
  private readonly linkUp: (iface: string) => boolean;
  private readonly resolve: (host: string) => Promise<string[]>;
  private hadDefault: { 4: boolean; 6: boolean } | null = null;
  private addrs: string[] = [];
  /** The host `addrs` are of. */
  private addrsOf = '';
  private lost: { startedAt: number; reasons: string[] } | null = null;
  /** The route tables last read and the routes parsed from them: the same text again is not parsed again. */
  private parsed: { v4: string | null; v6: string | null; routes: Route[] } | null = null;

  constructor(private readonly o: NetworkWatchOptions) {
    this.routes = o.routes ?? procRoutes;
    this.linkUp = o.linkUp ?? sysLinkUp;
    this.resolve = o.resolve ?? (async (h) => (await lookup(h, { all: true })).map((a) => a.address));
    const host = this.serverHost();
    if (isIP(host)) this.addrs = [host];
    this.addrsOf = host;
    if (o.stateFile) {
      try {
        const l = JSON.parse(readFileSync(o.stateFile, 'utf8')) as { startedAt: number; reasons: string[] };
        if (Number.isSafeInteger(l.startedAt) && Array.isArray(l.reasons)) this.lost = { startedAt: l.startedAt, reasons: l.reasons.map(String).slice(0, 8) };
      } catch {
        /* none open */
      }
    }
  }

  private serverHost(): string {
    return typeof this.o.serverHost === 'string' ? this.o.serverHost : this.o.serverHost();
  }

  private persist(): void {
    if (!this.o.stateFile) return;
    try {
      if (this.lost) writeFilePrivate(this.o.stateFile, JSON.stringify(this.lost));
      else rmSync(this.o.stateFile, { force: true });
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cannot keep the network state');
    }
  }

  /** Whether a `network-lost` finding is open. */
  get isLost(): boolean {
    return this.lost !== null;
  }

  /** What is wrong now (empty when the path to the server is whole). */
  reasons(): string[] {
    const t = this.routes();
    if (this.parsed?.v4 !== t.v4 || this.parsed.v6 !== t.v6) {
      this.parsed = { v4: t.v4, v6: t.v6, routes: [...(t.v4 !== null ? parseIPv4Routes(t.v4) : []), ...(t.v6 !== null ? parseIPv6Routes(t.v6) : [])] };
    }
    const routes = this.parsed.routes;
    // Each interface's link is read once per check, however many of the routes use it.
    const links = new Map<string, boolean>();
    const linkUp = (iface: string): boolean => {
      let up = links.get(iface);
      if (up === undefined) links.set(iface, (up = this.linkUp(iface)));
      return up;
    };
    const out: string[] = [];
    const now = { 4: hasDefault(routes, 4), 6: hasDefault(routes, 6) };
    this.hadDefault ??= now;
    for (const fam of [4, 6] as const) {
      if (this.hadDefault[fam] && !now[fam]) out.push(`default route (IPv${fam}) gone`);
      if (now[fam]) {
        const r = routes.find((x) => x.family === fam && x.prefix === 0)!;
        if (!linkUp(r.iface)) out.push(`link ${r.iface} of the default route (IPv${fam}) is down`);
      }
    }
    const remote = this.addrs.filter((a) => !isLoopback(a));
    if (remote.length) {
      const found = remote.map((a) => ({ a, r: routeFor(routes, a) }));
      if (found.every((x) => !x.r)) out.push(`no route to the server (${remote.join(', ')})`);
      else if (found.every((x) => !x.r || !linkUp(x.r.iface))) out.push(`link ${found.find((x) => x.r)!.r!.iface} to the server is down`);
    }
    const since = this.silentSince();
    const nowMs = this.o.clock.now();
    if (since !== null && nowMs - since > this.o.intervalMs) out.push(`server unreachable for ${Math.round((nowMs - since) / 1000)}s`);
    return out;
  }

  /** Since when the server has not heard the agent: disconnected, or connected but no longer answering. */
  private silentSince(): number | null {
    return this.o.disconnectedSince() ?? this.o.unansweredSince?.() ?? null;
  }

  /** One check; the agent's main loop calls it every cycle. Never throws. */
  async check(): Promise<void> {
    const host = this.serverHost();
    // The link moved to another server of its list: the route to watch is the route to that one.
    if (host !== this.addrsOf) {
      this.addrs = isIP(host) ? [host] : [];
      this.addrsOf = host;
    }
    if (!isIP(host)) {
      try {
        this.addrs = await this.resolve(host);
      } catch {
        // Name resolution fails when the network is gone: keep the last addresses.
      }
    }
    let reasons: string[];
    try {
      reasons = this.reasons();
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'cannot read the route tables');
      return;
    }
    const now = this.o.clock.now();
    if (reasons.length && !this.lost) {
      const since = this.silentSince();
      const startedAt = reasons.every((r) => r.startsWith('server unreachable')) && since !== null ? since : now;
      this.lost = { startedAt, reasons };
      this.persist();
      this.o.log.error({ reasons }, 'network lost');
      this.o.onLost(startedAt, reasons);
    } else if (this.lost) {
      for (const r of reasons) if (!this.lost.reasons.some((x) => x.split(' for ')[0] === r.split(' for ')[0])) this.lost.reasons.push(r);
      if (!reasons.length && this.o.disconnectedSince() === null) {
        const l = this.lost;
        this.lost = null;
        this.o.log.info({ startedAt: new Date(l.startedAt).toISOString() }, 'network back');
        // Spooled before the open state is forgotten: a kill between the two repeats the end, never loses it.
        this.o.onRestored(l.startedAt, now, l.reasons.slice(0, 8));
        this.persist();
      }
    }
  }
}
