/**
 * Migration 3: per-channel delivery state for the alarm outbox, the
 * per-minute heartbeat rollup the dashboard draws, the daily report runs and
 * an audit log of dashboard actions.
 */
export default `
  -- One row per alarm event and channel: the sender claims it with a conditional
  -- UPDATE, sends, then marks it sent (or schedules a retry, or fails it for good).
  CREATE TABLE deliveries (
    channel TEXT NOT NULL,
    event_id INTEGER NOT NULL REFERENCES alarm_events(id),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','sent','failed','dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_at INTEGER,
    sent_at INTEGER,
    -- the message that carried it: several events share one when sent as a digest
    message_id TEXT,
    digest INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (channel, event_id)
  ) STRICT;
  CREATE INDEX deliveries_due ON deliveries(channel, next_attempt_at) WHERE state = 'pending';
  CREATE INDEX deliveries_sent ON deliveries(channel, sent_at) WHERE state = 'sent';

  -- How far each channel has taken alarm_events into its deliveries.
  CREATE TABLE channel_cursors (
    channel TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL
  ) STRICT;

  -- Heartbeats per host and minute (minute = floor(ms / 60000)): the dashboard's bar.
  CREATE TABLE heartbeat_minutes (
    host TEXT NOT NULL,
    minute INTEGER NOT NULL,
    beats INTEGER NOT NULL,
    PRIMARY KEY (host, minute)
  ) STRICT, WITHOUT ROWID;

  -- The daily report mail: one row per day, sent once, retried while SMTP is down.
  CREATE TABLE report_runs (
    day TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT
  ) STRICT;

  -- What people did on the dashboard (ack, accept, maintenance, revoke).
  CREATE TABLE operator_actions (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    host TEXT,
    arg TEXT,
    at INTEGER NOT NULL
  ) STRICT;
`;
