import { TwError } from '../shared/errors.ts';

/** The agent's error catalogue: stable code → what it means and what to do. */
export const AGENT_ERRORS = {
  TW_NOT_ENROLLED: 'the state dir has no certificate; run `enroll` with a token from the server operator',
  TW_ENROLL_PIN: 'the server\'s CA does not match --ca-sha256; check the fingerprint `server init` printed (possible interception)',
  TW_ENROLL_REFUSED: 'the server refused the enrollment (the message says why: token unknown, used or expired)',
  TW_ENROLL_UNREACHABLE: 'the server could not be reached; check --server and the network',
  TW_STATE_UNREADABLE: 'the reported-state file in the state dir is damaged; the running agent rewrites it after its next report',
  TW_SERVER_MISMATCH: 'the config names another server than --server',
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

export function agentError(code: AgentErrorCode, message: string, exitCode = 1): TwError {
  return new TwError(code, message, exitCode);
}
