/**
 * node:test ends a test file that outlives its timeout with SIGTERM, whose default action skips the process's
 * `exit` handlers: the servers, agents and PostgreSQL clusters a file started were left running (31 of them
 * for an hour in one loaded run, loading every test after). Turned into an exit, the handlers that kill and
 * remove them run. Imported for its effect by the helpers that start such things; never by a process under
 * test (its own SIGTERM is its clean stop).
 */
process.once('SIGTERM', () => process.exit(143));
