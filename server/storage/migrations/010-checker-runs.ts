/**
 * Migration 10: centralized checker runs (AIDE, Tripwire). What each host declared in its last hello (so the
 * schedule knows who has a checker while it is offline), every run with its result, the raw output (bounded)
 * and the parsed entries (times from the agent's clock, except result_at: when the server stored the result or
 * marked the run missed), and the entries an operator accepted (bound to the checker database they were
 * reported against).
 */
export default `
  CREATE TABLE checker_hosts (
    host TEXT NOT NULL REFERENCES hosts (host) ON DELETE CASCADE,
    checker TEXT NOT NULL,
    files TEXT NOT NULL,
    declared_at INTEGER NOT NULL,
    PRIMARY KEY (host, checker)
  );
  CREATE TABLE checker_runs (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    checker TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('window', 'operator')),
    window_start INTEGER,
    scheduled_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    sent_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    result_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'running', 'ok', 'findings', 'failed', 'missed', 'refused')),
    exit_code INTEGER,
    added INTEGER,
    removed INTEGER,
    changed INTEGER,
    truncated INTEGER NOT NULL DEFAULT 0,
    db_sha256 TEXT,
    reason TEXT,
    refused TEXT,
    output TEXT NOT NULL DEFAULT '',
    output_parts INTEGER NOT NULL DEFAULT 0,
    output_truncated INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX checker_runs_window ON checker_runs (host, checker, window_start) WHERE window_start IS NOT NULL;
  CREATE INDEX checker_runs_due ON checker_runs (status, scheduled_at);
  CREATE INDEX checker_runs_deadline ON checker_runs (status, deadline_at);
  CREATE INDEX checker_runs_host ON checker_runs (host, scheduled_at);
  CREATE INDEX checker_runs_result ON checker_runs (result_at);
  CREATE TABLE checker_entries (
    run_id TEXT NOT NULL REFERENCES checker_runs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    change TEXT NOT NULL,
    attrs TEXT NOT NULL,
    critical INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX checker_entries_run ON checker_entries (run_id);
  CREATE TABLE checker_accepted (
    host TEXT NOT NULL,
    checker TEXT NOT NULL,
    db_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    change TEXT NOT NULL,
    attrs TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (host, checker, db_sha256, path, change, attrs)
  );
`;

/**
 * Migration 10 in PostgreSQL 15. These tables are not STRICT in SQLite (types are affinities there, and the
 * primary key columns of a rowid table may hold NULL); PostgreSQL enforces both.
 */
export const postgres = `
  CREATE TABLE checker_hosts (
    host TEXT NOT NULL REFERENCES hosts (host) ON DELETE CASCADE,
    checker TEXT NOT NULL,
    files TEXT NOT NULL,
    declared_at BIGINT NOT NULL,
    PRIMARY KEY (host, checker)
  );
  CREATE TABLE checker_runs (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    checker TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('window', 'operator')),
    window_start BIGINT,
    scheduled_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    sent_at BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    result_at BIGINT,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'running', 'ok', 'findings', 'failed', 'missed', 'refused')),
    exit_code BIGINT,
    added BIGINT,
    removed BIGINT,
    changed BIGINT,
    truncated INTEGER NOT NULL DEFAULT 0,
    db_sha256 TEXT,
    reason TEXT,
    refused TEXT,
    output TEXT NOT NULL DEFAULT '',
    output_parts BIGINT NOT NULL DEFAULT 0,
    output_truncated INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX checker_runs_window ON checker_runs (host, checker, window_start) WHERE window_start IS NOT NULL;
  CREATE INDEX checker_runs_due ON checker_runs (status, scheduled_at);
  CREATE INDEX checker_runs_deadline ON checker_runs (status, deadline_at);
  CREATE INDEX checker_runs_host ON checker_runs (host, scheduled_at);
  CREATE INDEX checker_runs_result ON checker_runs (result_at);
  -- no key, as in SQLite; SQLite's readers list a run's entries in rowid order, which PostgreSQL does not have
  CREATE TABLE checker_entries (
    run_id TEXT NOT NULL REFERENCES checker_runs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    change TEXT NOT NULL,
    attrs TEXT NOT NULL,
    critical INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX checker_entries_run ON checker_entries (run_id);
  CREATE TABLE checker_accepted (
    host TEXT NOT NULL,
    checker TEXT NOT NULL,
    db_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    change TEXT NOT NULL,
    attrs TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (host, checker, db_sha256, path, change, attrs)
  );
`;
