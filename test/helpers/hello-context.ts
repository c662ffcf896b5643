import type { HelloContext } from '../../server/gateway/takeover-watch.ts';

/**
 * A {@link HelloContext} for the takeover-watch tests: boot `bootId` at `now`, sequence 410 after a stored 400,
 * interval and grace 1 s, nothing missing and nothing stalled; `lastSeenAgoMs` is how long before `now` the
 * store last heard the boot. `over` replaces any field.
 */
export function helloContext(now: number, bootId: string, lastSeenAgoMs: number, over: Partial<HelloContext> = {}): HelloContext {
  return {
    now,
    bootId,
    seq: 410,
    remote: '127.0.0.1:2',
    stored: { bootId, lastSeq: 400, lastSeen: now - lastSeenAgoMs, intervalMs: 1_000 },
    superseded: [],
    graceMs: 1_000,
    serverStalled: false,
    exeExpected: true,
    exeSent: true,
    digestsSeen: true,
    ...over,
  };
}
