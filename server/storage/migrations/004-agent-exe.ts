/** Migration 4: the agent executable's hash, as accepted (first seen or `accept`) and as last reported in `hello`. */
export default `
  ALTER TABLE hosts ADD COLUMN exe_sha256 TEXT;
  ALTER TABLE hosts ADD COLUMN exe_sha256_reported TEXT;
`;
