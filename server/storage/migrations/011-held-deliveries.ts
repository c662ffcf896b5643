/**
 * Migration 11: a delivery held by its host's maintenance window. A change alarm opened while the host
 * is in maintenance is stored and shown at once, but its deliveries wait for the window to end; an alarm
 * opened and resolved (accepted) inside the window is then dropped rather than mailed. The flag says the
 * delivery was held, so only those pairs are dropped: outside a window an alarm that opens and clears
 * within one pass of the sender is still delivered.
 */
export default `
  ALTER TABLE deliveries ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
`;

/** Migration 11 in PostgreSQL 15. */
export const postgres = `
  ALTER TABLE deliveries ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
`;
