import { TwError } from '../shared/errors.ts';

/** The server's error catalogue: stable code → what it means and what to do. */
export const SERVER_ERRORS = {
  TW_DATA_DIR_EXISTS: 'init refuses to overwrite an existing data dir; pick another --dir or remove the old one',
  TW_DATA_DIR_MISSING: 'the data dir has not been initialised; run `init --dir D` first',
  TW_HOST_EXISTS: 'a token was asked for a host already enrolled; use `token HOST --replace` for a reinstalled host',
  TW_HOST_UNKNOWN: 'the named host is not enrolled; `hosts --dir D` lists them',
  TW_ALARM_UNKNOWN: 'the named alarm id does not exist; `alarms --dir D` lists them',
  TW_TOKEN_UNKNOWN: 'the enrollment token is not one this server issued; ask for a new one with `token HOST`',
  TW_TOKEN_USED: 'the enrollment token was already used; ask for a new one with `token HOST`',
  TW_TOKEN_EXPIRED: 'the enrollment token has expired; ask for a new one with `token HOST`',
  TW_CSR_INVALID: 'the certificate request is malformed or its signature is wrong',
  TW_BASELINE_NONE: 'the host has sent no full report yet, so there is no baseline to accept into; wait for the agent to connect',
  TW_PATH_UNKNOWN: 'accept named a path the host has never reported; `alarms --dir D --open` lists the changed paths',
  TW_SAMPLE_MISMATCH: 'accept --group left a path whose state matches no sample host of the group; investigate that host, or accept it there by name',
  TW_GROUP_NAME: 'a group name must be 1-64 characters of letters, digits, dot, dash or underscore',
  TW_HOST_NAME: 'a host name must be 1-253 characters of letters, digits, dot, dash or underscore',
  TW_SMTP_UNSET: 'mail was asked for but server.yml has no smtp: block; add host, port, from and to',
  TW_SMTP_FAILED: 'the SMTP server did not take the message; the line says whether retrying can help',
  TW_DB_CORRUPT: 'the database file is damaged; stop the server and restore tripwarden.db from a backup (or `sqlite3 .recover` it)',
  TW_DB_READONLY: 'the database or its data dir cannot be written (read-only file system or permissions); make the data dir writable by the server user',
  TW_DISK_FULL: 'the data dir\'s file system is full; free space there (or grow it) and the server records again',
} as const;

export type ServerErrorCode = keyof typeof SERVER_ERRORS;

/** Creates a server error with a catalogued code. */
export function serverError(code: ServerErrorCode, message: string, exitCode = 1): TwError {
  return new TwError(code, message, exitCode);
}
