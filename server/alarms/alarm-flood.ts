import type { AlarmKind, Severity } from '../../shared/alarm-kinds.ts';

/** The subject of `alarm-flood`: one open per host. */
export const FLOOD_SUBJECT = 'more alarms than the per-host limit: new ones folded into this one';

/** How many new alarms a host may open before the rest fold, and when its flood ends. */
export interface FloodLimits {
  /** New alarms a host may open at once (the bucket's size). */
  burst: number;
  /** ...and this many a minute after that (the bucket's refill). */
  perMinute: number;
  /** A flood ends (its alarm resolves) after this long without a new alarm to fold, in ms. */
  quietMs: number;
  /** Subjects kept as examples for each kind. */
  examples: number;
}

/**
 * 200 at once covers a package upgrade touching every guarded binary; a host past it and 60 a minute is
 * flooding (the attack: 30,000 in 3 s grew the database sevenfold and held another host's mail 16 minutes).
 */
export const FLOOD_LIMITS: Readonly<FloodLimits> = { burst: 200, perMinute: 60, quietMs: 60_000, examples: 3 };

/**
 * Kinds the server raises itself, a few per host at most, never folded: a host that floods and then goes
 * silent must still raise `agent-missing` as its own alarm.
 */
export const FLOOD_EXEMPT: ReadonlySet<AlarmKind> = new Set<AlarmKind>([
  'alarm-flood',
  'agent-missing',
  'agent-disconnected',
  'agent-stopped',
  'host-never-seen',
  'identity-clone',
  'agent-impersonated',
  'replay',
]);

/** The alarms folded into one host's open `alarm-flood`, as its detail shows them. */
export interface FloodState {
  id: number;
  since: number;
  lastAt: number;
  folded: number;
  severity: Severity;
  kinds: Record<string, { count: number; critical: number; examples: string[] }>;
  /** Folded since its row was last written. */
  dirty: boolean;
}

/** Adds one alarm that would have opened to a flood. Returns whether the flood's severity rose. */
export function foldInto(f: FloodState, kind: AlarmKind, subject: string, severity: Severity, now: number, limits: FloodLimits): boolean {
  const k = (f.kinds[kind] ??= { count: 0, critical: 0, examples: [] });
  k.count++;
  if (severity === 'critical') k.critical++;
  if (k.examples.length < limits.examples) k.examples.push(subject.slice(0, 300));
  f.folded++;
  f.lastAt = now;
  if (severity === 'critical' && f.severity !== 'critical') {
    f.severity = 'critical';
    return true;
  }
  return false;
}

/** The detail stored with the flood's alarm. */
export function floodDetail(f: FloodState, limits: FloodLimits): Record<string, unknown> {
  return {
    since: new Date(f.since).toISOString(),
    lastAt: new Date(f.lastAt).toISOString(),
    folded: f.folded,
    kinds: f.kinds,
    limit: { burst: limits.burst, perMinute: limits.perMinute },
  };
}

/** A flood read back from its stored alarm (a restarted server carries on counting). */
export function floodFromRow(r: { id: number; severity: Severity; opened_at: number; detail: string | null }): FloodState {
  let d: { lastAt?: string; folded?: number; kinds?: FloodState['kinds'] } = {};
  try {
    d = r.detail ? JSON.parse(r.detail) : {};
  } catch {
    /* an unreadable detail starts the counts anew */
  }
  const lastAt = d.lastAt ? Date.parse(d.lastAt) : r.opened_at;
  return { id: r.id, since: r.opened_at, lastAt: Number.isFinite(lastAt) ? lastAt : r.opened_at, folded: d.folded ?? 0, severity: r.severity, kinds: d.kinds ?? {}, dirty: false };
}

/** A host's allowance of new alarms: a token bucket of {@link FloodLimits.burst}, refilled per minute. */
export class AlarmBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly limits: FloodLimits,
    now: number,
  ) {
    this.tokens = limits.burst;
    this.at = now;
  }

  /** Whether one more alarm fits now (without taking it). */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  take(now: number): void {
    this.refill(now);
    this.tokens--;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.at) / 60_000) * this.limits.perMinute);
    this.at = Math.max(this.at, now);
  }
}
