/**
 * Migration 6 (the fleet view): listening ports join the measured
 * state as kind `port`, and lookups by path across hosts (sample matching,
 * the fleet view) get an index; per-group settings (port alarms) get a table. SQLite cannot alter a CHECK constraint, so
 * `measured` is rebuilt; nothing references it, and the copy keeps every row.
 */
export default `
  CREATE TABLE measured_new (
    host TEXT NOT NULL REFERENCES hosts(host) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('file','daemon','mount','port')),
    key TEXT NOT NULL,
    baseline TEXT,
    current TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (host, kind, key)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO measured_new (host, kind, key, baseline, current, updated_at)
    SELECT host, kind, key, baseline, current, updated_at FROM measured;
  DROP TABLE measured;
  ALTER TABLE measured_new RENAME TO measured;
  -- the same path on every host of a group: sample matching and the fleet view
  CREATE INDEX measured_by_key ON measured(kind, key);
  CREATE INDEX hosts_by_group ON hosts(grp, sample);

  -- Settings per host group; a group without a row has the defaults (port alarms on).
  CREATE TABLE group_settings (
    grp TEXT PRIMARY KEY,
    port_alarms INTEGER NOT NULL DEFAULT 1 CHECK (port_alarms IN (0, 1))
  ) STRICT;
`;

/** Migration 6 in PostgreSQL 15: the CHECK constraint is replaced in place, no rebuild. */
export const postgres = `
  ALTER TABLE measured DROP CONSTRAINT measured_kind_check,
    ADD CONSTRAINT measured_kind_check CHECK (kind IN ('file','daemon','mount','port'));
  CREATE INDEX measured_by_key ON measured(kind, key);
  CREATE INDEX hosts_by_group ON hosts(grp, sample);

  CREATE TABLE group_settings (
    grp TEXT PRIMARY KEY,
    port_alarms INTEGER NOT NULL DEFAULT 1 CHECK (port_alarms IN (0, 1))
  );
`;
