import { Counter, Gauge, Registry } from 'prom-client';
import { ALARM_KINDS, HOST_STATUSES } from '../../shared/alarm-kinds.ts';
import type { Clock } from '../../shared/clock.ts';
import type { ConnectionStats } from '../gateway/connection-stats.ts';
import type { HostStore } from '../liveness/host-store.ts';
import type { SqlDb } from '../storage/engine.ts';

export interface MetricsSources {
  sql: SqlDb;
  hosts: HostStore;
  clock: Clock;
  /** Heartbeats accepted since start (`Liveness.beatsReceived`). */
  beatsReceived: () => number;
  /** Live agent connections (`SessionRegistry.size`). */
  connectedAgents: () => number;
  /** What the gateway refused, dropped, and could not store. */
  stats?: ConnectionStats;
}

/** A counter over a growing count read at scrape time (prom-client counters only go up by inc). */
function countsCounter<K extends string>(registry: Registry, name: string, help: string, read: () => Map<K, number>): void {
  const seen = new Map<K, number>();
  new Counter({
    name,
    help,
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, n] of read()) {
        const before = seen.get(reason) ?? 0;
        if (n > before) this.inc({ reason }, n - before);
        seen.set(reason, n);
      }
    },
  });
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
    async collect() {
      const counts = new Map<string, number>(HOST_STATUSES.map((s) => [s, 0]));
      for (const h of await src.hosts.views(src.clock.now())) counts.set(h.status, (counts.get(h.status) ?? 0) + 1);
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'tripwarden_open_alarms',
    help: 'Unresolved alarms by kind and severity',
    labelNames: ['kind', 'severity'],
    registers: [registry],
    async collect() {
      const rows = await src.sql.all<{ kind: string; severity: string; n: number }>(
        'SELECT kind, severity, COUNT(*) AS n FROM alarms WHERE resolved_at IS NULL GROUP BY kind, severity',
      );
      // Reset after the read, so a scrape that fails never leaves the gauge empty of its zeros.
      this.reset();
      for (const [kind, severity] of Object.entries(ALARM_KINDS)) this.set({ kind, severity }, 0);
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
    async collect() {
      const rows = await src.sql.all<{ channel: string; state: string; n: number }>(
        `SELECT channel, state, COUNT(*) AS n FROM deliveries WHERE state IN ('pending','failed') GROUP BY channel, state`,
      );
      this.reset();
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
  const stats = src.stats;
  if (stats) {
    countsCounter(registry, 'tripwarden_connections_refused_total', 'Agent-port connections refused before a session, by reason', () => stats.refused);
    countsCounter(registry, 'tripwarden_connections_dropped_total', 'Agent sessions the server dropped, by reason', () => stats.dropped);
    countsCounter(registry, 'tripwarden_protocol_violations_total', 'Invalid frames from authenticated agents, by reason', () => stats.violations);
    let storage = 0;
    new Counter({
      name: 'tripwarden_storage_errors_total',
      help: 'Agent messages that could not be stored (disk full, I/O error)',
      registers: [registry],
      collect() {
        if (stats.storageErrors > storage) this.inc(stats.storageErrors - storage);
        storage = stats.storageErrors;
      },
    });
  }
  return registry;
}
