/**
 * Migration 7 (load): the sweep's third arm (maintenance windows that end) gets a partial index like
 * `hosts_late` and `hosts_due`. Without it that arm scanned every host four times a second: at 10,000 hosts it
 * was the sweep's whole cost (about 4 % of the server's CPU under 1,000 heartbeats a second).
 */
export default `
  CREATE INDEX hosts_maintenance ON hosts(maintenance_until) WHERE status = 'maintenance';
`;

/** Migration 7 in PostgreSQL 15. */
export const postgres = `
  CREATE INDEX hosts_maintenance ON hosts(maintenance_until) WHERE status = 'maintenance';
`;
