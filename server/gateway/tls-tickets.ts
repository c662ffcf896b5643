import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFilePrivate } from '../../shared/secure-file.ts';

/** TLS server options that let agents resume their sessions across a server restart. */
export interface TicketOptions {
  ticketKeys: Buffer;
  /** Seconds a ticket stays resumable (TLS 1.3 caps it at 7 days). */
  sessionTimeout: number;
  sessionIdContext: string;
}

/** Ticket key file in the data dir; as secret as `ca.key` (whoever holds it can mint tickets). */
export const TICKET_KEY_FILE = 'tls-ticket.key';
/** The key is replaced at start once it is this old; tickets made with the old one then fall back to a full handshake. */
const ROTATE_MS = 7 * 86_400_000;

/**
 * Loads (or creates, or rotates) the session ticket key kept in the data dir.
 *
 * Why: Node makes random ticket keys per process, so after a restart every
 * agent's ticket is useless and the whole fleet does full mutual-TLS
 * handshakes at once (≈1.8 ms of server CPU each). With the key kept, a
 * restart costs resumed handshakes. A resumed session carries the client
 * certificate it was made with; the gateway still checks that certificate's
 * serial, revocation and expiry at every upgrade, so resumption skips only
 * the RSA work, never the identity checks.
 */
export function loadTicketKeys(dir: string, now = Date.now()): TicketOptions {
  const path = join(dir, TICKET_KEY_FILE);
  let key: Buffer | undefined;
  try {
    if (now - statSync(path).mtimeMs < ROTATE_MS) key = readFileSync(path);
  } catch {
    key = undefined;
  }
  if (key?.length !== 48) {
    key = randomBytes(48);
    writeFilePrivate(path, key);
  }
  // Agents keep their connection for days; the ticket they hold at a restart is as old as the connection.
  return { ticketKeys: key, sessionTimeout: 7 * 86_400, sessionIdContext: 'tripwarden-gateway' };
}
