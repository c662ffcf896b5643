import type { CommandHelp } from '../../shared/cli-help.ts';

const D = '/var/lib/tripwarden';

/**
 * `--help` of every server command: usage, what it does, and examples that work as typed. A command
 * in the registry (server/main.ts) without an entry here fails test/server/cli/help.test.ts.
 */
export const SERVER_HELP: Readonly<Record<string, CommandHelp>> = {
  init: {
    usage: 'init --dir D [--listen HOST:PORT] [--san NAME]... [--admin-password-file F]',
    summary:
      'Makes a data dir: a private CA, a server certificate (this host, its addresses, the listen host and each --san), the database and server.yml. Prints the CA fingerprint agents pin, and a generated dashboard password for admin unless given. Refuses a dir that is not empty.',
    examples: [`init --dir ${D} --san tw.example.org`],
  },
  serve: {
    usage: 'serve --dir D [--listen HOST:PORT] [--dashboard HOST:PORT]',
    summary: "Runs the agents' endpoint (default 0.0.0.0:7443, wss with client certificates) and the dashboard (default 127.0.0.1:7080) until SIGTERM or SIGINT.",
    examples: [`serve --dir ${D}`],
  },
  token: {
    usage: 'token (HOST [--replace] | --count N [--json]) --dir D [--group G] [--ttl 1h]',
    summary:
      'Prints a one-time enrollment token for HOST, and only that. --replace for a reinstalled host (its enrollment revokes the old certificate). --count N prints N tokens, one a line (a JSON array with --json), for a rollout: each enrolls the host that uses it, named by its own host name.',
    examples: [`token web1 --dir ${D} --group web`, `token --count 20 --group web --dir ${D}`],
  },
  hosts: {
    usage: 'hosts --dir D [--json]',
    summary: 'Every host with its status derived now, those needing a person first.',
    examples: [`hosts --dir ${D}`, `hosts --dir ${D} --json`],
  },
  alarms: {
    usage: 'alarms --dir D [--open] [--json] [--host H]',
    summary: "Alarms, newest first; --open only unresolved ones, --host one host's.",
    examples: [`alarms --dir ${D} --open`],
  },
  revoke: {
    usage: 'revoke HOST --dir D',
    summary: "Refuses the host's certificate from now on and closes its live connection; a new enrollment needs token HOST --replace.",
    examples: [`revoke web1 --dir ${D}`],
  },
  ack: {
    usage: 'ack ALARM_ID --dir D',
    summary: 'Marks an alarm as seen; it stays open until its condition clears.',
    examples: [`ack 42 --dir ${D}`],
  },
  maintenance: {
    usage: 'maintenance HOST --for DURATION --dir D',
    summary: 'Silences the host until now + DURATION; --for 0s ends the window.',
    examples: [`maintenance web1 --for 2h --dir ${D}`],
  },
  report: {
    usage: 'report --dir D [--since 24h] [--json]',
    summary: 'Every host accounted for over the period: errors, critical, expected, warnings, quiet.',
    examples: [`report --dir ${D} --since 7d`],
  },
  'test-mail': {
    usage: 'test-mail --dir D [--group G]',
    summary:
      "Sends one test message to smtp.to (--group: to that group's addresses in smtp.groups) now, bypassing the outbox, and says whether a failure is permanent or transient.",
    examples: [`test-mail --dir ${D}`, `test-mail --dir ${D} --group web`],
  },
  accept: {
    usage: 'accept (HOST [PATH...] | --group G PATH...) --dir D [--stale]',
    summary:
      "Takes a host's current state of the named paths (none: everything) into its baseline and resolves their alarms, after a fresh report from its agent through the running serve (--stale: the last stored report). With --group, the group's sample hosts' state, and what matches it on the others.",
    examples: [`accept web1 /etc/cron.d --dir ${D}`, `accept --group web /usr/sbin/cron --dir ${D}`],
  },
  group: {
    usage: 'group HOST G --dir D',
    summary: 'Moves a host to group G (1-64 letters, digits, ., -, _).',
    examples: [`group web1 web --dir ${D}`],
  },
  sample: {
    usage: 'sample HOST on|off --dir D',
    summary: 'Marks a host as a sample of its group: a change elsewhere in the group to content a sample has accepted is expected (a warning), not critical.',
    examples: [`sample web1 on --dir ${D}`],
  },
  'group-ports': {
    usage: 'group-ports G on|off --dir D',
    summary: 'Whether a new listening port on a host of group G opens port-opened (on by default).',
    examples: [`group-ports web off --dir ${D}`],
  },
  fleet: {
    usage: 'fleet --dir D [--group G] [--all] [--json]',
    summary: "For each watched path, which content each group's hosts have, outliers marked; without --all only paths where some group disagrees.",
    examples: [`fleet --dir ${D} --group web`],
  },
  'server-cert': {
    usage: 'server-cert --dir D --san NAME...',
    summary:
      "Issues a new server certificate from the data dir's CA, naming localhost, this host, its addresses, the listen host and every --san; the old one is replaced. Agents keep their certificates and pins. A running serve uses the new one after a restart.",
    examples: [`server-cert --dir ${D} --san tw.example.org --san 10.0.0.5`],
  },
  'checker-runs': {
    usage: 'checker-runs [HOST] --dir D [--json]',
    summary: "The integrity checker's runs, newest first, with their status and findings.",
    examples: [`checker-runs web1 --dir ${D}`],
  },
  'run-checker': {
    usage: 'run-checker HOST --dir D',
    summary: "Schedules a run of the host's integrity checker now (reaches a running serve within 2 s).",
    examples: [`run-checker web1 --dir ${D}`],
  },
  instances: {
    usage: 'instances --dir D [--json]',
    summary: 'The serve instances sharing the database: up or down, last seen, agents connected now.',
    examples: [`instances --dir ${D}`],
  },
};
