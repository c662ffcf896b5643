import { hkdfSync } from 'node:crypto';

/** TLS server options that let agents resume their sessions across a server restart. */
export interface TicketOptions {
  ticketKeys: Buffer;
  /** Seconds a ticket stays resumable (TLS 1.3 caps it at 7 days). */
  sessionTimeout: number;
  sessionIdContext: string;
}

/** The key changes with each period; tickets made with the old one then fall back to a full handshake. */
const ROTATE_MS = 7 * 86_400_000;

/**
 * The session ticket key of the period holding `now`, derived from the CA key (HKDF-SHA256).
 *
 * Why: Node makes random ticket keys per process, so after a restart every
 * agent's ticket is useless and the whole fleet does full mutual-TLS
 * handshakes at once (≈1.8 ms of server CPU each). Derived, the key survives
 * a restart, and every instance sharing the CA (`init --join` copies it)
 * holds the same key without storing or copying one: an agent that fails
 * over resumes its session, and the instances rotate together instead of
 * drifting apart as keys each made at its own start did. Whoever can mint
 * tickets could claim any client certificate, so the key is exactly as
 * secret as `ca.key`, which can issue one anyway. A resumed session carries
 * the client certificate it was made with; the gateway still checks that
 * certificate's serial, revocation and expiry at every upgrade, so resumption
 * skips only the RSA work, never the identity checks.
 */
export function ticketKeyFor(caKeyPem: string, now: number): Buffer {
  const period = Math.floor(now / ROTATE_MS);
  return Buffer.from(hkdfSync('sha256', caKeyPem, 'tripwarden tls session tickets', `period ${period}`, 48));
}

/** The gateway's ticket settings at `now`. */
export function ticketOptions(caKeyPem: string, now = Date.now()): TicketOptions {
  // Agents keep their connection for days; the ticket they hold at a restart is as old as the connection.
  return { ticketKeys: ticketKeyFor(caKeyPem, now), sessionTimeout: 7 * 86_400, sessionIdContext: 'tripwarden-gateway' };
}

/** Keeps a running server on the current period's key (checked on the server's tick; a change is one division). */
export class TicketRotation {
  private period: number;

  constructor(
    private readonly server: { setTicketKeys(keys: Buffer): void },
    private readonly caKeyPem: string,
    now: number,
  ) {
    this.period = Math.floor(now / ROTATE_MS);
  }

  /** Switches the server to the new period's key once the period has changed; true when it did. */
  refresh(now: number): boolean {
    const period = Math.floor(now / ROTATE_MS);
    if (period === this.period) return false;
    this.period = period;
    this.server.setTicketKeys(ticketKeyFor(this.caKeyPem, now));
    return true;
  }
}
