import type { Clock } from '../../shared/clock.ts';

/** Limits of {@link LoginGuard}; the defaults suit a dashboard with a handful of operators. */
export interface LoginGuardOptions {
  /** Failures an address may make in `windowMs` before its failures are held back. */
  freePerAddress: number;
  /** Failures from all addresses together in `windowMs` before every failure is held back. */
  freeGlobal: number;
  /** How long failures are remembered (ms). */
  windowMs: number;
  /** The first held failure waits this long (ms); each further one doubles it up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Password checks that may run at once; the rest wait their turn in order. */
  concurrency: number;
}

const DEFAULTS: LoginGuardOptions = { freePerAddress: 5, freeGlobal: 50, windowMs: 300_000, baseDelayMs: 500, maxDelayMs: 8_000, concurrency: 1 };

/**
 * Slows password guessing without locking the right password out.
 *
 * Why not a lockout: on a loopback dashboard, or behind a NAT or proxy,
 * the attacker shares the operator's address, so a lockout per address lets
 * one bad actor lock the admin out at will, and a global one does the same
 * from anywhere. Instead every attempt is checked, and only a wrong answer
 * is held back: after `freePerAddress` recent failures from an address, or
 * `freeGlobal` from everyone, the 401 waits a delay that doubles with each
 * further failure. A correct password is answered at once. A guesser that
 * waits for its answers is slowed to one guess per delay; one that does not
 * is bounded by the password checks, which run at most `concurrency` at a
 * time (each ~70 ms of scrypt on the thread pool, never on the event loop;
 * one at a time by default, so on a two-core host a core stays free for it)
 * and by the dashboard's connection cap, since every held answer keeps its
 * connection. The operator's attempt waits at most behind the checks
 * already queued, never behind a delay.
 */
export class LoginGuard {
  private readonly o: LoginGuardOptions;
  private readonly byAddr = new Map<string, { n: number; since: number }>();
  private global = { n: 0, since: 0 };
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    o: Partial<LoginGuardOptions> = {},
  ) {
    this.o = { ...DEFAULTS, ...o };
  }

  /** Runs a password check when a slot is free (first come, first served). */
  async check(fn: () => Promise<boolean>): Promise<boolean> {
    if (this.running >= this.o.concurrency) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** Records a failure from `addr`; returns how long (ms) to hold the answer back. */
  fail(addr: string): number {
    const now = this.clock.now();
    this.sweep(now);
    const a = this.byAddr.get(addr) ?? { n: 0, since: now };
    a.n++;
    this.byAddr.set(addr, a);
    // Many source addresses (IPv6, 127/8) must not grow the map without bound; the global count still sees them.
    if (this.byAddr.size > 10_000) this.byAddr.delete(this.byAddr.keys().next().value!);
    if (this.global.n === 0) this.global.since = now;
    this.global.n++;
    const over = Math.max(a.n - this.o.freePerAddress, this.global.n - this.o.freeGlobal);
    if (over <= 0) return 0;
    return Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.min(over - 1, 30));
  }

  /** A correct password: this address starts afresh (the global count stays, it is not this address's alone). */
  succeed(addr: string): void {
    this.byAddr.delete(addr);
  }

  private sweep(now: number): void {
    for (const [k, a] of this.byAddr) if (now - a.since >= this.o.windowMs) this.byAddr.delete(k);
    if (now - this.global.since >= this.o.windowMs) this.global = { n: 0, since: now };
  }
}
