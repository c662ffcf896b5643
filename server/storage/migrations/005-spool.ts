/**
 * Migration 5: the server side of the agents' spools. Each host's
 * chain position (the last record committed and acknowledged, the highest
 * head announced) and every record stored, once: a record is known by its
 * chain hash, which covers its number, its predecessor and its origin (boot
 * id + sequence), so a replayed record is recognised and acknowledged again
 * without being applied twice.
 */
export default `
  CREATE TABLE spool_chains (
    host TEXT PRIMARY KEY REFERENCES hosts(host) ON DELETE CASCADE,
    acked_n INTEGER NOT NULL,
    acked_hash TEXT NOT NULL,
    announced_n INTEGER NOT NULL,
    announced_hash TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE spool_records (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL REFERENCES hosts(host) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    hash TEXT NOT NULL,
    prev TEXT NOT NULL,
    -- event | network-lost | summary | gap (records the agent dropped over its spool limit)
    kind TEXT NOT NULL,
    severity TEXT,
    origin_boot TEXT,
    origin_seq INTEGER,
    origin_at INTEGER,
    -- the connection that delivered it, and whether that connection was marked as a clone
    received_boot TEXT NOT NULL,
    suspect INTEGER NOT NULL DEFAULT 0,
    body TEXT,
    stored_at INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX spool_records_hash ON spool_records(host, hash);
  CREATE INDEX spool_records_n ON spool_records(host, n);
  CREATE INDEX spool_records_origin ON spool_records(host, origin_boot, origin_seq);
`;
