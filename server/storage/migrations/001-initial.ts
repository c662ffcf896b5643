/** Migration 1: hosts, enrollment tokens, alarms and their outbox, control commands, users. */
export default `
  CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    grp TEXT NOT NULL DEFAULT 'default',
    -- what the operator or the agent last said: active | stopped | revoked
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active','stopped','revoked')),
    -- cached result of status(), written with the alarm that the change opens
    status TEXT NOT NULL DEFAULT 'pending',
    status_changed_at INTEGER,
    cert_serial TEXT,
    cert_sha256 TEXT,
    enrolled_at INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL DEFAULT 10000,
    last_seen INTEGER,
    late_at INTEGER,
    due_at INTEGER,
    boot_id TEXT,
    last_seq INTEGER,
    connected INTEGER NOT NULL DEFAULT 0,
    maintenance_until INTEGER,
    agent_version TEXT,
    facts TEXT,
    sample INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX hosts_late ON hosts(late_at) WHERE status = 'up';
  CREATE INDEX hosts_due ON hosts(due_at) WHERE status = 'late';

  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    host TEXT NOT NULL,
    grp TEXT NOT NULL,
    replace INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  ) STRICT;

  CREATE TABLE alarms (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('critical','warning')),
    subject TEXT NOT NULL,
    detail TEXT,
    opened_at INTEGER NOT NULL,
    acked_at INTEGER,
    resolved_at INTEGER
  ) STRICT;
  -- an alarm is opened once: at most one unresolved row per host, kind and subject
  CREATE UNIQUE INDEX alarms_open ON alarms(host, kind, subject) WHERE resolved_at IS NULL;
  CREATE INDEX alarms_host ON alarms(host, opened_at);

  -- every opening and resolution, claimed by a sender (mail, syslog) exactly once
  CREATE TABLE alarm_events (
    id INTEGER PRIMARY KEY,
    alarm_id INTEGER NOT NULL REFERENCES alarms(id),
    action TEXT NOT NULL CHECK (action IN ('open','resolve')),
    at INTEGER NOT NULL,
    claimed_at INTEGER,
    sent_at INTEGER
  ) STRICT;

  -- effects a CLI command asks of a running serve (close a revoked host's socket)
  CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    host TEXT,
    arg TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
  ) STRICT;

  CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
`;
