/** Migration 4: the agent executable's hash, as accepted (first seen or `accept`) and as last reported in `hello`. */
export default `
  ALTER TABLE hosts ADD COLUMN exe_sha256 TEXT;
  ALTER TABLE hosts ADD COLUMN exe_sha256_reported TEXT;
`;

/** Migration 4 in PostgreSQL 15. */
export const postgres = `
  ALTER TABLE hosts ADD COLUMN exe_sha256 TEXT;
  ALTER TABLE hosts ADD COLUMN exe_sha256_reported TEXT;
`;
