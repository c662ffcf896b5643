import type { StallSpan } from '../liveness/status.ts';

export interface StallWatchOptions {
  /** The period the caller samples at (the server's tick), ms. */
  tickMs: number;
  /** A tick later than this beyond its period counts as a stall, ms (smaller drifts are ordinary jitter). */
  lagMs: number;
  /** With at least this many TLS handshakes in flight the server may be in a reconnect storm. */
  busyHandshakes: number;
  /**
   * ...and it is one only when its event loop was busy at least this fraction of the tick (0..1): handshakes
   * that keep the server waiting on the peer cost it nothing, and must not buy any host silence.
   */
  busyLoop: number;
}

/**
 * Tells when the server itself could not read agents' frames in time, from
 * three signals sampled once per tick: the tick's drift (the event loop was
 * blocked: a timer fires late, and frames wait unread in socket buffers
 * meanwhile), and the number of TLS handshakes in flight together with the
 * event loop's utilisation (a reconnect storm: the loop is saturated by
 * handshakes and reads heartbeats late). Returns the span to credit to every
 * host's deadline (Liveness.noteStall, status.ts stallHold). Reads no clock:
 * the caller passes now.
 */
export class StallWatch {
  private last: number | null = null;

  constructor(private readonly o: StallWatchOptions) {}

  /**
   * One sample; the stall since the previous sample, or null when the server kept up.
   * `loopUtilization` is the fraction of the time since the previous sample the event loop was busy (0..1).
   */
  sample(now: number, handshakesInFlight: number, loopUtilization = 1): StallSpan | null {
    const last = this.last;
    this.last = now;
    if (last === null || now <= last) return null;
    if (handshakesInFlight >= this.o.busyHandshakes && loopUtilization >= this.o.busyLoop) return { from: last, to: now };
    // The tick was due at last + tickMs; from then until now the loop was not running timers (nor reading sockets).
    if (now - last - this.o.tickMs >= this.o.lagMs) return { from: last + this.o.tickMs, to: now };
    return null;
  }
}
