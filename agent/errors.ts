import { type ErrorCatalogue, errorFactory } from '../shared/errors.ts';

/**
 * The agent's error catalogue, one entry per code: when it happens, what the
 * operator should do (the ending of every line with that code) and the exit
 * status where a command ends with it. `docs/ERRORS.md` lists every entry.
 */
export const AGENT_ERRORS = {
  TW_NOT_ENROLLED: {
    when: 'the state dir has no certificate: this host was never enrolled, or its state dir was lost',
    todo: 'run `enroll --server wss://HOST:PORT --token T --ca-sha256 FP --config C` with a token from the server operator',
  },
  TW_ENROLL_PIN: {
    when: "the server's CA does not match --ca-sha256, or the server sent no CA at all",
    todo: 'check that --server is the Tripwarden server and --ca-sha256 the fingerprint `tripwarden init` printed; if both are right, the connection is being intercepted',
  },
  TW_ENROLL_REFUSED: {
    when: 'the server refused the enrollment (token unknown, used or expired, host already enrolled) or answered nonsense',
    todo: 'ask the server operator for a new token (`tripwarden token HOST --dir D`) and run `enroll` again',
  },
  TW_ENROLL_UNREACHABLE: {
    when: 'the server named by --server could not be reached',
    todo: 'check --server (wss://HOST:PORT), the network and that `tripwarden serve` is running',
  },
  TW_CONFIG_MISSING: {
    exit: 2,
    when: '`enroll --config C` names a file that does not exist (nothing was sent: the token is not spent)',
    todo: 'write the config first (at least `server:` and `stateDir:`; scripts/install-agent.sh writes one) or correct --config',
  },
  TW_SERVER_NAME_MISMATCH: {
    when: 'the server certificate does not name the host or address in --server (the message lists the names it carries)',
    todo: 'use one of those names in --server, or add this one on the server: `tripwarden server-cert --dir D --san NAME`, then restart serve',
  },
  TW_STATE_UNREADABLE: {
    when: 'the reported-state file in the state dir is damaged',
    todo: 'nothing is lost: the running agent rewrites the file after its next report',
  },
  TW_SERVER_MISMATCH: {
    exit: 2,
    when: '`enroll --server` names another server than the config file does',
    todo: "make --server and the config's server: the same",
  },
} as const satisfies ErrorCatalogue;

/** A code of {@link AGENT_ERRORS}. */
export type AgentErrorCode = keyof typeof AGENT_ERRORS;

/** Creates an agent error with a code of {@link AGENT_ERRORS}; its line ends with the code's "what to do". */
export const agentError = errorFactory(AGENT_ERRORS);
