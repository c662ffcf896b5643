import { Counter, Gauge, Registry } from 'prom-client';
import { ALARM_KINDS, HOST_STATUSES } from '../shared/alarm-kinds.ts';
import type { Clock } from '../shared/clock.ts';
import type { Db } from './db.ts';
import type { HostStore } from './host-store.ts';

export interface MetricsSources {
  db: Db;
  hosts: HostStore;
  clock: Clock;
  /** Heartbeats accepted since start (`Liveness.beatsReceived`). */
  beatsReceived: () => number;
  /** Live agent connections (`SessionRegistry.size`). */
  connectedAgents: () => number;
}

/**
 * The Prometheus registry served at `/metrics`. Everything is read at scrape
 * time from the database and the live registry, so there is no second copy
 * of state to drift. Served only with a dashboard session or the bearer token
 * in `D/metrics.token` (see dashboard-server.ts): host names and alarm counts
 * tell an intruder which hosts are being watched.
 */
export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'tripwarden_hosts',
    help: 'Enrolled hosts by status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(HOST_STATUSES.map((s) => [s, 0]));
      for (const h of src.hosts.views(src.clock.now())) counts.set(h.status, (counts.get(h.status) ?? 0) + 1);
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'tripwarden_open_alarms',
    help: 'Unresolved alarms by kind and severity',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, severity] of Object.entries(ALARM_KINDS)) this.set({ kind, severity }, 0);
      const rows = src.db.prepare('SELECT kind, severity, COUNT(*) AS n FROM alarms WHERE resolved_at IS NULL GROUP BY kind, severity').all() as { kind: string; severity: string; n: number }[];
      for (const r of rows) this.set({ kind: r.kind, severity: r.severity }, r.n);
    },
  });
  let counted = 0;
  new Counter({
    name: 'tripwarden_heartbeats_received_total',
    help: 'Heartbeats (and hellos) accepted since the server started',
    registers: [registry],
    collect() {
      const now = src.beatsReceived();
      if (now > counted) this.inc(now - counted);
      counted = now;
    },
  });
  new Gauge({
    name: 'tripwarden_outbox_depth',
    help: 'Alarm notices waiting for delivery, by channel and state (pending, failed)',
    labelNames: ['channel', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const rows = src.db.prepare(`SELECT channel, state, COUNT(*) AS n FROM deliveries WHERE state IN ('pending','failed') GROUP BY channel, state`).all() as { channel: string; state: string; n: number }[];
      for (const r of rows) this.set({ channel: r.channel, state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'tripwarden_connected_agents',
    help: 'Live agent connections',
    registers: [registry],
    collect() {
      this.set(src.connectedAgents());
    },
  });
  return registry;
}
