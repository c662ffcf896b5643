/**
 * Migration 16: the live agent connections of every `serve` instance sharing the database, one row per
 * connection that said hello (`conn_id`, a random id), dropped at its close. A hello reads the host's rows of
 * the other instances whose lease is live: another boot there is `identity-clone`, the same boot is the agent
 * that moved (its old instance is told to close that socket). A row of an instance declared down is dropped
 * with its lease.
 */
export default `
  CREATE TABLE live_sessions (
    conn_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    instance TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    remote TEXT NOT NULL,
    opened_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX live_sessions_host ON live_sessions(host);
  CREATE INDEX live_sessions_instance ON live_sessions(instance);
`;

/** Migration 16 in PostgreSQL 15. */
export const postgres = `
  CREATE TABLE live_sessions (
    conn_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    instance TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    remote TEXT NOT NULL,
    opened_at BIGINT NOT NULL
  );
  CREATE INDEX live_sessions_host ON live_sessions(host);
  CREATE INDEX live_sessions_instance ON live_sessions(instance);
`;
