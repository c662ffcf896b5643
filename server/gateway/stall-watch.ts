import type { StallSpan } from '../liveness/status.ts';

export interface StallWatchOptions {
  /** The period the caller samples at (the server's tick), ms. */
  tickMs: number;
  /** A tick later than this beyond its period counts as a stall, ms (smaller drifts are ordinary jitter). */
  lagMs: number;
  /** With at least this many TLS handshakes in flight the server is in a reconnect storm: the whole tick counts. */
  busyHandshakes: number;
}

/**
 * Tells when the server itself could not read agents' frames in time, from
 * two signals sampled once per tick: the tick's drift (the event loop was
 * blocked: a timer fires late, and frames wait unread in socket buffers
 * meanwhile) and the number of TLS handshakes in flight (a reconnect storm:
 * the loop is saturated by handshakes and reads heartbeats late). Returns
 * the span to credit to every host's deadline (Liveness.noteStall, status.ts
 * stallHold). Reads no clock: the caller passes now.
 */
export class StallWatch {
  private last: number | null = null;

  constructor(private readonly o: StallWatchOptions) {}

  /** One sample; the stall since the previous sample, or null when the server kept up. */
  sample(now: number, handshakesInFlight: number): StallSpan | null {
    const last = this.last;
    this.last = now;
    if (last === null || now <= last) return null;
    if (handshakesInFlight >= this.o.busyHandshakes) return { from: last, to: now };
    // The tick was due at last + tickMs; from then until now the loop was not running timers (nor reading sockets).
    if (now - last - this.o.tickMs >= this.o.lagMs) return { from: last + this.o.tickMs, to: now };
    return null;
  }
}
