import type { RunChecker } from '../../shared/checker-messages.ts';
import type { CloseCode } from '../../shared/protocol.ts';

/** A live agent connection as the registry sees it. */
export interface LiveSession {
  readonly host: string;
  /** This connection's id in the registry across instances (live-session-store.ts). */
  readonly connId: string;
  bootId: string | null;
  /** The boot id its hello claimed, from when that hello began to be processed; null before any. */
  readonly helloBootId: string | null;
  /** The peer's address and port, for alarms that name connections. */
  readonly remote: string;
  /** When a frame last arrived on this connection (ms since the epoch), or null before any. */
  readonly lastFrameAt: number | null;
  close(code: CloseCode, reason: string): void;
  /** Marks this connection as one of two live ones with one certificate (its records are stored as suspect). */
  markClone(other: { bootId: string | null; remote: string }): void;
  /** Asks the agent for a full report now; `onStored` runs when one begun after the request is stored. */
  requestFresh(reason: string, onStored: (storedAt: number) => void): void;
  /** A hello of its boot on another instance queued at `at` superseded it: closes it, judging whether it was still live. */
  supersededElsewhere(at: number): void;
  /** Sends a checker run; false when the connection has not said hello or is closing. */
  runChecker(m: RunChecker): boolean;
  /** Resolves once the frames and the close received so far are processed. */
  idle(): Promise<void>;
  /** Resolves once the connection's close is processed, however late its socket closes. */
  ended(): Promise<void>;
}

/** The live sessions by host identity (from the certificate, never from a message). */
export class SessionRegistry {
  private readonly byHost = new Map<string, Set<LiveSession>>();
  private readonly byConn = new Map<string, LiveSession>();
  /** Per host, the boot whose heartbeats carried the state digest: what that agent sends (takeover-watch.ts). */
  private readonly digestBoots = new Map<string, string>();

  add(s: LiveSession): void {
    let set = this.byHost.get(s.host);
    if (!set) this.byHost.set(s.host, (set = new Set()));
    set.add(s);
    this.byConn.set(s.connId, s);
  }

  remove(s: LiveSession): void {
    if (this.byConn.get(s.connId) === s) this.byConn.delete(s.connId);
    const set = this.byHost.get(s.host);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.byHost.delete(s.host);
  }

  /** The other live sessions of the same host. */
  others(s: LiveSession): LiveSession[] {
    return [...(this.byHost.get(s.host) ?? [])].filter((o) => o !== s);
  }

  /** Notes that a heartbeat of this boot carried the state digest. */
  noteDigest(host: string, bootId: string): void {
    if (this.digestBoots.get(host) !== bootId) this.digestBoots.set(host, bootId);
  }

  /** Whether heartbeats of this boot of the host carried the state digest (since this server started). */
  sentDigests(host: string, bootId: string): boolean {
    return this.digestBoots.get(host) === bootId;
  }

  has(host: string): boolean {
    return this.byHost.has(host);
  }

  /** Whether this instance holds the connection of this id. */
  holds(connId: string): boolean {
    return this.byConn.has(connId);
  }

  /**
   * Closes one connection of a host that a hello of its boot on another instance superseded (`close-session`
   * queued at `at`), which judges whether that connection was still live; false when this instance does not hold it.
   */
  supersede(host: string, connId: string, at: number): boolean {
    const s = this.byConn.get(connId);
    if (!s || s.host !== host) return false;
    s.supersededElsewhere(at);
    return true;
  }

  /** Closes every live session of a host (revoked or replaced); returns how many. */
  closeHost(host: string, code: CloseCode, reason: string): number {
    const set = [...(this.byHost.get(host) ?? [])];
    for (const s of set) s.close(code, reason);
    return set.length;
  }

  /**
   * Asks every live session of a host for a fresh full report; `onStored` runs once, for the first
   * stored. Returns false when the host has no live session.
   */
  requestFresh(host: string, reason: string, onStored: (storedAt: number) => void): boolean {
    const set = [...(this.byHost.get(host) ?? [])];
    let done = false;
    for (const s of set)
      s.requestFresh(reason, (at) => {
        if (done) return;
        done = true;
        onStored(at);
      });
    return set.length > 0;
  }

  /** Whether the host has a live connection that said hello. */
  ready(host: string): boolean {
    for (const s of this.byHost.get(host) ?? []) if (s.bootId !== null) return true;
    return false;
  }

  /** Sends a checker run to the host's newest live connection that said hello; false when it has none. */
  runChecker(host: string, m: RunChecker): boolean {
    const set = [...(this.byHost.get(host) ?? [])].reverse();
    return set.some((s) => s.runChecker(m));
  }

  /** Every live session now. */
  sessions(): LiveSession[] {
    return [...this.byHost.values()].flatMap((set) => [...set]);
  }

  closeAll(code: CloseCode, reason: string): void {
    for (const host of [...this.byHost.keys()]) this.closeHost(host, code, reason);
  }

  /** Live sessions (every connection once: the server's tick reads it four times a second). */
  get size(): number {
    return this.byConn.size;
  }
}
