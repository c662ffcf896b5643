/**
 * Migration 12: the `serve` instances sharing the database, each with a lease it renews (`last_seen`); a
 * survivor that finds a lease lapsed sets `down_at` (a conditional UPDATE only one instance wins) and
 * raises `server-instance-down`; renewing clears it. `stopped_at`: a clean stop, no alarm. `hosts.instance`
 * names the instance that holds the agent's connection (set at hello), so a survivor knows whose hosts to
 * spare while they reconnect, and a CLI command reaches the one holding the socket.
 */
export default `
  CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    agents INTEGER NOT NULL DEFAULT 0,
    down_at INTEGER,
    stopped_at INTEGER,
    token TEXT NOT NULL
  ) STRICT;
  ALTER TABLE hosts ADD COLUMN instance TEXT;
  CREATE INDEX hosts_instance ON hosts(instance) WHERE instance IS NOT NULL;
`;

/** Migration 12 in PostgreSQL 15. */
export const postgres = `
  CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    agents BIGINT NOT NULL DEFAULT 0,
    down_at BIGINT,
    stopped_at BIGINT,
    token TEXT NOT NULL
  );
  ALTER TABLE hosts ADD COLUMN instance TEXT;
  CREATE INDEX hosts_instance ON hosts(instance) WHERE instance IS NOT NULL;
`;
