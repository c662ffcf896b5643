import type { CommandHelp } from '../../shared/cli-help.ts';

const C = '/etc/tripwarden-agent/agent.yml';

/** `--help` of every agent command: usage, what it does, and examples that work as typed. */
export const AGENT_HELP: Readonly<Record<string, CommandHelp>> = {
  enroll: {
    usage: 'enroll --server wss://HOST:PORT --token T --ca-sha256 FP --config C',
    summary:
      "Enrolls this host with the server: checks the server's CA against FP (the fingerprint init printed), makes the key pair here and sends a certificate request with the one-time token; key, certificate and CA go to the config's stateDir. The config C must exist and name the same server.",
    examples: [`enroll --server wss://tw.example.org:7443 --token twt_... --ca-sha256 AB:CD:... --config ${C}`],
  },
  run: {
    usage: 'run --config C',
    summary: 'The daemon: watches, checks and heartbeats until SIGTERM or SIGINT, then says goodbye to the server. Started by systemd.',
    examples: [`run --config ${C}`],
  },
  check: {
    usage: 'check --config C [--json]',
    summary:
      'One cycle of every check here and now, compared with the state the agent last reported to the server; prints the findings. Exit 1 when anything differs, 0 when nothing does.',
    examples: [`check --config ${C}`, `check --config ${C} --json`],
  },
};
