export interface AddressLimiterOptions {
  /** Connections one source address may hold open at once. */
  maxOpen: number;
  /** Connections one source address may open per window. */
  maxPerWindow: number;
  /** The window, ms. */
  windowMs: number;
}

interface Entry {
  open: number;
  windowStart: number;
  opened: number;
}

/** Addresses remembered at most; past this, entries with nothing open and an ended window are forgotten. */
const MAX_ENTRIES = 65_536;

/**
 * Limits what one source address may do without a certificate: how many
 * connections it holds at once and how many it opens per window. Without it
 * one peer could take every unauthenticated slot the gateway has and keep
 * every other host from enrolling. Reads no clock: the caller passes now.
 */
export class AddressLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly o: AddressLimiterOptions) {}

  /** True when `addr` may open one more connection now; the caller then calls {@link release} when it closes. */
  admit(addr: string, now: number): boolean {
    let e = this.entries.get(addr);
    if (!e) {
      if (this.entries.size >= MAX_ENTRIES) this.prune(now);
      e = { open: 0, windowStart: now, opened: 0 };
      this.entries.set(addr, e);
    }
    if (now - e.windowStart >= this.o.windowMs || now < e.windowStart) {
      e.windowStart = now;
      e.opened = 0;
    }
    if (e.open >= this.o.maxOpen || e.opened >= this.o.maxPerWindow) return false;
    e.open++;
    e.opened++;
    return true;
  }

  /** One admitted connection of `addr` closed. */
  release(addr: string): void {
    const e = this.entries.get(addr);
    if (e && e.open > 0) e.open--;
  }

  private prune(now: number): void {
    for (const [addr, e] of this.entries) if (e.open === 0 && now - e.windowStart >= this.o.windowMs) this.entries.delete(addr);
  }
}
