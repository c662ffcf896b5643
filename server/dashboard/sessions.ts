import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../shared/clock.ts';

/** A logged-in user's session. */
export interface Session {
  id: string;
  user: string;
  /** The token every form must carry back (CSRF). */
  csrf: string;
  expiresAt: number;
  /** The result of the last action, shown once on the next page (post, redirect, get). */
  flash?: Flash;
}

/** An action's result message; `refused` when nothing was done. */
export interface Flash {
  text: string;
  refused: boolean;
}

/** Compares two secrets without leaking where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a),
    y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * Dashboard sessions, in memory: a restart logs everyone out, which is the
 * safe direction. Sessions slide: each use extends them by `idleMs`.
 */
export class SessionStore {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly o: { idleMs: number },
  ) {}

  create(user: string): Session {
    this.sweep();
    const s: Session = { id: randomBytes(32).toString('base64url'), user, csrf: randomBytes(24).toString('base64url'), expiresAt: this.clock.now() + this.o.idleMs };
    this.byId.set(s.id, s);
    return s;
  }

  /** The live session for a cookie value, extended; undefined when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = this.clock.now();
    if (s.expiresAt <= now) {
      this.byId.delete(id);
      return undefined;
    }
    s.expiresAt = now + this.o.idleMs;
    return s;
  }

  destroy(id: string): void {
    this.byId.delete(id);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
  }
}
