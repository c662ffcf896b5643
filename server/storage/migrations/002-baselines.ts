/**
 * Migration 2: measured state and baselines. The server alone holds
 * each host's baseline; `current` is what the agent last reported.
 */
export default `
  -- one row per host once its first full report became the baseline
  CREATE TABLE baseline_hosts (
    host TEXT PRIMARY KEY REFERENCES hosts(host) ON DELETE CASCADE,
    -- the certificate the baseline was taken under: a re-enrolled host starts a new baseline
    cert_serial TEXT,
    established_at INTEGER NOT NULL,
    reported_at INTEGER
  ) STRICT;

  -- files, daemons and mounts: baseline (files only; NULL = not in the baseline)
  -- and current (NULL = gone), each the canonical JSON of the measured entry
  CREATE TABLE measured (
    host TEXT NOT NULL REFERENCES hosts(host) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('file','daemon','mount')),
    key TEXT NOT NULL,
    baseline TEXT,
    current TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (host, kind, key)
  ) STRICT, WITHOUT ROWID;
`;

/** Migration 2 in PostgreSQL 15. */
export const postgres = `
  CREATE TABLE baseline_hosts (
    host TEXT PRIMARY KEY REFERENCES hosts(host) ON DELETE CASCADE,
    cert_serial TEXT,
    established_at BIGINT NOT NULL,
    reported_at BIGINT
  );

  -- the kind check is named so that migration 6 can replace it (SQLite rebuilds the table there)
  CREATE TABLE measured (
    host TEXT NOT NULL REFERENCES hosts(host) ON DELETE CASCADE,
    kind TEXT NOT NULL CONSTRAINT measured_kind_check CHECK (kind IN ('file','daemon','mount')),
    key TEXT NOT NULL,
    baseline TEXT,
    current TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, kind, key)
  );
`;
