/**
 * What each alarm kind means to a person and what to do about it: one table
 * for the dashboard, the mail and docs/REFERENCE.md's "Alarm kinds" table
 * (whose "what to do" column has the same words; a test compares them).
 * `held` kinds are the changes a maintenance window holds: they are stored
 * and shown at once, but delivered only when the window ends, and not at all
 * when they were opened and resolved (accepted) inside it.
 */
export interface AlarmGuide {
  /** One sentence: what happened. */
  meaning: string;
  /** What to do; command names in backticks, as in the docs. */
  todo: string;
  /** Delivery waits while the host is in maintenance. */
  held: boolean;
}

const FILE_TODO = 'read `detail` (old and new); if intended, `accept HOST PATH`; otherwise investigate';

/** Kind → guide. Kinds not listed get {@link UNKNOWN_GUIDE}. */
export const ALARM_GUIDE: Readonly<Record<string, AlarmGuide>> = {
  'agent-missing': {
    meaning: 'No heartbeat arrived before the deadline.',
    todo: 'the agent is dead, frozen or cut off: look at the host; resolves when it heartbeats',
    held: false,
  },
  'agent-disconnected': {
    meaning: 'The connection closed without a goodbye.',
    todo: "usually a restart or a network blip; if `agent-missing` follows, treat it as that; resolves at the agent's next `hello`",
    held: false,
  },
  'agent-stopped': {
    meaning: 'The agent said goodbye: someone stopped it.',
    todo: 'find out who stopped it; resolves when it heartbeats again',
    held: false,
  },
  'file-changed': {
    meaning: "A guarded file's content, mode, owner, inode, link count, ctime or link target differ from the baseline.",
    todo: FILE_TODO,
    held: true,
  },
  'file-added': { meaning: 'A new file appeared in a guarded directory.', todo: 'as `file-changed`', held: true },
  'file-missing': { meaning: 'A guarded file is gone.', todo: 'as `file-changed`; `accept` takes the removal', held: true },
  'daemon-down': {
    meaning: 'A configured daemon has no process, or only a stopped or zombie one.',
    todo: 'restart it and find out why it stopped; resolves when it runs',
    held: true,
  },
  'daemon-exe-mismatch': {
    meaning: 'A daemon runs from another binary than configured, a deleted or changed one, or maps a deleted or foreign library.',
    todo: "treat as a trojaned daemon; `accept HOST NAME` (or its binary's path) if the binary was upgraded",
    held: true,
  },
  'mount-writable': {
    meaning: 'A mount meant to be read-only is read-write or missing, or a new mount covers a guarded path.',
    todo: 'remount it read-only and find out who changed it',
    held: true,
  },
  'network-lost': {
    meaning: "The agent lost its route, its link or the server's replies.",
    todo: "check the network between host and server; the detail has start, end and reasons; resolves when the agent's record of the end arrives",
    held: false,
  },
  'agent-tampered': {
    meaning: "The agent's own files, its executable or its spool chain changed.",
    todo: 'assume the host is compromised; reinstall the agent; `accept HOST` once it is known good',
    held: false,
  },
  'identity-clone': {
    meaning: 'A second live connection used the same certificate with another boot id.',
    todo: "the agent's key was copied: `revoke HOST`, reinstall, `token HOST --replace`",
    held: false,
  },
  'agent-impersonated': {
    meaning: "A connection with the agent's own key and boot id acted unlike the agent; the detail names each sign.",
    todo: 'root on the host froze the agent and connects as it: treat the host as compromised, `revoke HOST`, reinstall, `token HOST --replace`',
    held: false,
  },
  'alarm-flood': {
    meaning: 'The host opened more new alarms than its limit; the rest are counted here by kind, with examples.',
    todo: 'the host floods on purpose or is broken: look at it; its folded findings are in its state (`report HOST`), not in alarm rows',
    held: false,
  },
  replay: {
    meaning: 'A message whose sequence number did not grow, or a spool older than the one stored.',
    todo: "a replay is an attack on the link; a rollback means the host's disk went back in time: check why",
    held: false,
  },
  'protocol-violation': {
    meaning: 'A frame failed validation; the connection was closed.',
    todo: 'a bug or a forged client; the subject names the bad field',
    held: false,
  },
  'port-opened': {
    meaning: "A listening socket that is not in the baseline, or owned by another process than the baseline's.",
    todo: "if intended, `accept HOST tcp/ADDR:PORT`; `group-ports G allow NAME` to allow one process's listeners in a group, `group-ports G off` to stop them all",
    held: true,
  },
  'host-never-seen': {
    meaning: 'The host has been enrolled for more than a day and no agent has said hello.',
    todo: 'finish the install on that host (enroll, start the unit), or `revoke` it if it will never run; resolves at its first `hello`',
    held: false,
  },
  'checker-findings': {
    meaning: "The host's integrity checker reported changes.",
    todo: "read the run (`checker-runs HOST`, the dashboard's host page); if intended, `accept HOST [PATH...]`, and have the host's admin update the checker's database; resolves at the next clean run",
    held: true,
  },
  'checker-failed': { meaning: 'The checker could not run or ended in error.', todo: 'fix the checker on the host; resolves at the next clean run or `accept HOST`', held: false },
  'checker-missed': {
    meaning: 'No checker result arrived by the end of its window.',
    todo: 'check the host and its agent; resolves at the next clean run or `accept HOST`',
    held: false,
  },
  'checker-tampered': {
    meaning: "The checker's binary, config or database differ from the baseline; the run was refused.",
    todo: 'treat the checker as compromised; resolves at the next clean run or `accept HOST`',
    held: false,
  },
  'server-instance-down': {
    meaning: 'A server instance sharing the database stopped renewing its lease: killed, frozen or cut off; the host named is the instance.',
    todo: 'its agents fail over to the others by themselves (those with a `server` list); find out why it stopped and restart it; resolves when it renews its lease, or with `instances --forget NAME` for one gone for good',
    held: false,
  },
};

/** What an unknown kind (from a newer server, say) shows. */
export const UNKNOWN_GUIDE: AlarmGuide = { meaning: 'An alarm of a kind this build does not describe.', todo: 'read the detail and investigate the host', held: false };

/** The guide of a kind. */
export function alarmGuide(kind: string): AlarmGuide {
  return Object.hasOwn(ALARM_GUIDE, kind) ? ALARM_GUIDE[kind]! : UNKNOWN_GUIDE;
}

/** The kinds a maintenance window holds, for SQL `IN (…)` lists. */
export const HELD_KINDS: readonly string[] = Object.entries(ALARM_GUIDE)
  .filter(([, g]) => g.held)
  .map(([k]) => k);
