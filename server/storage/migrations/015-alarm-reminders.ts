/**
 * Migration 15: per-group recipients and reminders for critical alarms left open. `alarm_events.grp` is the
 * host's group when the event was written: a group's channels (`mail:GROUP`) take the events of their group,
 * and a host moved later does not move its past events. `alarms.reminders` counts the reminders written for
 * an alarm (the sweep raises it with a conditional UPDATE, so of two instances one writes each reminder);
 * a reminder is an `alarm_events` row with action `open` and its number in `reminder` (NULL for a real
 * opening), which keeps action's CHECK as it is and sends it through every channel's outbox like the others.
 * The partial index holds the alarms a reminder can be due for; the other finds an alarm's events.
 */
export default `
  ALTER TABLE alarms ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE alarm_events ADD COLUMN reminder INTEGER;
  ALTER TABLE alarm_events ADD COLUMN grp TEXT;
  CREATE INDEX alarms_remind ON alarms(opened_at) WHERE resolved_at IS NULL AND acked_at IS NULL AND severity = 'critical';
  CREATE INDEX alarm_events_alarm ON alarm_events(alarm_id, at);
`;

/** Migration 15 in PostgreSQL 15. */
export const postgres = `
  ALTER TABLE alarms ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE alarm_events ADD COLUMN reminder INTEGER;
  ALTER TABLE alarm_events ADD COLUMN grp TEXT;
  CREATE INDEX alarms_remind ON alarms(opened_at) WHERE resolved_at IS NULL AND acked_at IS NULL AND severity = 'critical';
  CREATE INDEX alarm_events_alarm ON alarm_events(alarm_id, at);
`;
