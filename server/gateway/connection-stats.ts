/**
 * Counters of what the agent gateway turned away, for `/metrics`: connections
 * refused before a session existed, sessions dropped by the server, protocol
 * violations and storage errors. Reasons are a small fixed vocabulary so the
 * metric's label set stays bounded whatever a peer sends.
 */
import type { FrameFault } from '../../shared/protocol.ts';

export type RefusedReason =
  | 'handshake-timeout' // TLS handshake not finished within handshakeTimeout
  | 'tls-error' // any other failed TLS handshake
  | 'bad-certificate' // a certificate that does not verify (other CA, expired)
  | 'no-certificate' // WebSocket upgrade without a client certificate
  | 'unknown-certificate' // verified, but not the serial on record, revoked, or expired since its ticket
  | 'not-found' // upgrade to another path
  | 'http-error' // malformed or timed-out HTTP before any session
  | 'idle-unauthenticated' // no certificate and no request within the idle limit
  | 'too-many-unauthenticated' // over the cap of connections without a certificate
  | 'rate-limited'; // over one source address's share of connections without a certificate

export type DroppedReason = 'protocol-violation' | 'replay' | 'no-hello' | 'frame-too-large' | 'socket-error';

/** Why a session was closed for a protocol violation: a frame fault from `parseFrame`, or a rule of the session broken. */
export type ViolationReason = FrameFault | 'binary' | 'before-hello' | 'boot-id-changed' | 'second-hello';

/** Plain counters; `createMetrics` reads them at scrape time. */
export class ConnectionStats {
  readonly refused = new Map<RefusedReason, number>();
  readonly dropped = new Map<DroppedReason, number>();
  readonly violations = new Map<ViolationReason, number>();
  /** Agent messages that could not be stored (disk full, I/O error). */
  storageErrors = 0;

  refuse(r: RefusedReason): void {
    this.refused.set(r, (this.refused.get(r) ?? 0) + 1);
  }

  drop(r: DroppedReason): void {
    this.dropped.set(r, (this.dropped.get(r) ?? 0) + 1);
  }

  violation(r: ViolationReason): void {
    this.violations.set(r, (this.violations.get(r) ?? 0) + 1);
  }
}
