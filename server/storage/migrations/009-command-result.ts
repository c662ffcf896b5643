/**
 * Migration 9: a command's outcome, written by the `serve` that applied it, for a CLI that waits on it
 * (`accept` asks the agent for a fresh report and must learn whether the host was live and when the
 * report was stored). NULL for commands whose effect needs no answer.
 */
export default `
  ALTER TABLE commands ADD COLUMN result TEXT;
`;

/** Migration 9 in PostgreSQL 15. */
export const postgres = `
  ALTER TABLE commands ADD COLUMN result TEXT;
`;
