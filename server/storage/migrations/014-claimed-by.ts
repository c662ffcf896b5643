/**
 * Migration 14: which instance holds an outbox claim. An instance restarted after a crash (kill -9 mid-send)
 * releases its predecessor's claims at start instead of leaving them to the 5-minute claim timeout.
 */
export default `
  ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
`;

/** Migration 14 in PostgreSQL 15. */
export const postgres = `
  ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
`;
