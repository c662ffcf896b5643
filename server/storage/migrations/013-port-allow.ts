/**
 * Migration 13: per-group process allowlists for listening ports. A new listener owned by a process named
 * here opens no `port-opened` on hosts of the group; it is still measured and baselined.
 */
export default `
  CREATE TABLE group_port_allow (
    grp TEXT NOT NULL,
    process TEXT NOT NULL,
    PRIMARY KEY (grp, process)
  ) STRICT, WITHOUT ROWID;
`;

/** Migration 13 in PostgreSQL 15. */
export const postgres = `
  CREATE TABLE group_port_allow (
    grp TEXT NOT NULL,
    process TEXT NOT NULL,
    PRIMARY KEY (grp, process)
  );
`;
