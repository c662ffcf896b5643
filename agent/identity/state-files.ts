import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentError } from '../errors.ts';

/** Files the agent keeps in its state dir (all 0600). */
export function statePaths(stateDir: string) {
  return {
    key: join(stateDir, 'agent.key'),
    cert: join(stateDir, 'agent.crt'),
    ca: join(stateDir, 'ca.crt'),
  };
}

/** The agent's TLS identity, read from its state dir. */
export interface Identity {
  keyPem: string;
  certPem: string;
  caPem: string;
}

/** Reads the enrolled identity, or throws telling how to enroll. */
export function loadIdentity(stateDir: string): Identity {
  const p = statePaths(stateDir);
  if (!existsSync(p.cert) || !existsSync(p.key) || !existsSync(p.ca)) {
    throw agentError('TW_NOT_ENROLLED', `no certificate in ${stateDir}`);
  }
  return { keyPem: readFileSync(p.key, 'utf8'), certPem: readFileSync(p.cert, 'utf8'), caPem: readFileSync(p.ca, 'utf8') };
}
