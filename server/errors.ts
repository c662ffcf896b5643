import { type ErrorCatalogue, errorFactory } from '../shared/errors.ts';

/**
 * The server's error catalogue, one entry per code: when it happens, what the
 * operator should do (the ending of every line with that code) and the exit
 * status where a command ends with it. `docs/ERRORS.md` lists every entry.
 */
export const SERVER_ERRORS = {
  TW_DATA_DIR_EXISTS: {
    when: 'init was pointed at a directory that exists and is not empty',
    todo: 'choose another --dir, or remove the old data dir if it is really unused',
  },
  TW_DATA_DIR_MISSING: {
    when: 'a command was given a --dir that is not an initialised data dir',
    todo: 'check --dir, or create the data dir with `init --dir D`',
  },
  TW_INSTANCE_TAKEN: {
    when: 'serve found another running instance renewing the lease of its instance name in the shared database',
    todo: 'give each serve sharing a database its own `instance` in server.yml (or stop the other one)',
  },
  TW_HOST_EXISTS: {
    when: 'an enrollment token was asked for, or redeemed, for a host already enrolled',
    todo: 'a reinstalled host needs its token made with --replace (its enrollment revokes the old certificate); a host still in service needs no new token',
  },
  TW_HOST_UNKNOWN: {
    when: 'a command named a host that is not enrolled (or a group with no host that has a baseline)',
    todo: '`hosts --dir D` lists the enrolled hosts and their groups',
  },
  TW_HOST_OFFLINE: {
    when: '`accept HOST` could not get a fresh full report: no running `serve` took the request, the host is not connected to it, or its report did not arrive in time',
    todo: 'start `serve` and check the host is up (`hosts --dir D`), then accept again; or add --stale to accept the last report knowingly (the line names its time)',
  },
  TW_CHECKER_NONE: {
    when: '`run-checker HOST` named a host whose agent declared no checker (AIDE or Tripwire) in its last hello',
    todo: "add a checkers: entry (e.g. { kind: aide, config: /etc/aide/aide.conf }) to that host's agent config and restart the agent",
  },
  TW_ALARM_UNKNOWN: {
    when: 'a command named an alarm id that does not exist',
    todo: '`alarms --dir D` lists the alarms and their ids',
  },
  TW_TOKEN_UNKNOWN: {
    when: 'an agent enrolled with a token this server never issued (or mistyped)',
    todo: 'issue a new token with `token HOST` and enroll with it',
  },
  TW_TOKEN_USED: {
    when: 'an agent enrolled with a token that was already redeemed',
    todo: 'issue a new token with `token HOST` and enroll with it',
  },
  TW_TOKEN_EXPIRED: {
    when: 'an agent enrolled with a token past its --ttl',
    todo: 'issue a new token with `token HOST` (a longer --ttl if needed) and enroll with it',
  },
  TW_CSR_INVALID: {
    when: 'an enrollment carried a certificate request that is malformed, badly signed or with a key under 2048 bits',
    todo: 'enroll with the tripwarden-agent executable, which makes a valid request; anything else is not a Tripwarden agent',
  },
  TW_BASELINE_NONE: {
    when: '`accept` named a host that has sent no full report yet, so it has no baseline',
    todo: 'wait until the agent has connected and sent its first report (`hosts --dir D` shows it up), then accept again',
  },
  TW_PATH_UNKNOWN: {
    when: '`accept` named a path or port the host has never reported',
    todo: '`alarms --dir D --open` lists the changed paths; the rest were accepted',
  },
  TW_SAMPLE_MISMATCH: {
    when: '`accept --group` left a path whose state matches no sample host of the group',
    todo: 'investigate that host, and accept the path there by name if the change is wanted',
  },
  TW_GROUP_NAME: {
    exit: 2,
    when: 'a group name is not 1-64 characters of letters, digits, dot, dash or underscore',
    todo: 'use a group name of 1-64 letters, digits, dots, dashes or underscores',
  },
  TW_HOST_NAME: {
    exit: 2,
    when: 'a host name is not 1-253 characters of letters, digits, dot, dash or underscore',
    todo: 'use a host name of 1-253 letters, digits, dots, dashes or underscores',
  },
  TW_SMTP_UNSET: {
    when: 'mail was asked for but server.yml has no smtp: block',
    todo: 'add an smtp: block with host, port, from and to to server.yml',
  },
  TW_SMTP_FAILED: {
    when: 'the SMTP server did not take the test message; the line says whether it was permanent',
    todo: 'permanent: fix the address or the smtp: block in server.yml; transient: the alarm outbox retries by itself, check the SMTP server if it persists',
  },
  TW_DB_CORRUPT: {
    when: 'the database file failed its integrity check at start, or SQLite found it damaged',
    todo: 'stop the server and restore tripwarden.db from a backup (or recover it with `sqlite3 tripwarden.db .recover`)',
  },
  TW_DB_UNAVAILABLE: {
    when: 'the PostgreSQL database named in server.yml cannot be reached, or dropped the connection',
    todo: 'check that PostgreSQL runs and that the `database` URL (host, port, user, password, database) is right; a running serve retries by itself',
  },
  TW_DB_STALLED: {
    when: 'a write of the running serve (its lease renewal) did not commit in time: the database stopped answering without dropping the connection, or a session holds a lock it needs',
    todo: "check the database's health and its sessions (pg_stat_activity: a long transaction holding locks on `instances`); deadlines are held meanwhile and the serve carries on by itself once writes commit",
  },
  TW_DB_NEWER: {
    when: 'the database was migrated by a newer Tripwarden than this one',
    todo: 'upgrade this server to the version the other instances run (never point an old server at a newer database)',
  },
  TW_DB_READONLY: {
    when: 'the database or its data dir cannot be written (read-only file system or permissions)',
    todo: 'make the data dir and tripwarden.db writable by the server user',
  },
  TW_DISK_FULL: {
    when: 'the file system of the data dir is full',
    todo: 'free space in the data dir (or grow its file system); the server records again once it can write',
  },
} as const satisfies ErrorCatalogue;

/** A code of {@link SERVER_ERRORS}. */
export type ServerErrorCode = keyof typeof SERVER_ERRORS;

/** Creates a server error with a code of {@link SERVER_ERRORS}; its line ends with the code's "what to do". */
export const serverError = errorFactory(SERVER_ERRORS);
