/**
 * Migration 19: per host, the boot whose heartbeats carried the state digest, written once per boot at its
 * first digested heartbeat (and by an instance that had not seen it yet), never per heartbeat. A hello of
 * the same boot, on any instance sharing the database, reads it with the host row: that connection owes
 * digests and a report (`no-state-digest`, `report-unanswered` of `agent-impersonated`).
 */
export default `
  CREATE TABLE digest_boots (
    host TEXT PRIMARY KEY,
    boot_id TEXT NOT NULL,
    noted_at INTEGER NOT NULL
  ) STRICT;
`;

/** Migration 19 in PostgreSQL 15. */
export const postgres = `
  CREATE TABLE digest_boots (
    host TEXT PRIMARY KEY,
    boot_id TEXT NOT NULL,
    noted_at BIGINT NOT NULL
  );
`;
