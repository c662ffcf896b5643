import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { RecordBody, RecordMessage, SpoolHead, SpoolRecord } from '../../shared/protocol.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import type { LinkListener, Unenveloped } from '../link/agent-link.ts';
import { recordSeverity } from './severity.ts';
import type { Spool } from './spool.ts';

/** Records on the wire without an ack at most (bounds memory and the server's backlog). */
export const REPLAY_WINDOW = 64;
/** Findings held in memory at most while the spool cannot take them; beyond, the oldest go (logged). */
export const MAX_HELD = 4096;

/** What the sender needs of the link. */
export interface SpoolLink {
  readonly bootId: string;
  readonly isConnected: boolean;
  /** Takes the next sequence number of this boot (records keep it as their origin). */
  takeSeq(): number;
  sendMessage(body: Unenveloped<RecordMessage>): boolean;
  on<E extends 'welcome' | 'closed' | 'spool-ack'>(ev: E, fn: LinkListener<E>): void;
}

export interface SpoolSenderOptions {
  clock: Clock;
  log: Logger;
  window?: number;
  /** Whether a vanished path was a critical one (its record is then never summarised). */
  criticalPath?: (path: string) => boolean;
  /** Called after each append with whether the link was up (fallback sinks write the offline ones). */
  onAppended?: (rec: SpoolRecord, online: boolean) => void;
}

/**
 * The one path every event and local finding takes: appended to the spool
 * (fsync'd) first, then sent. On each `welcome` the unacknowledged records are
 * streamed from the file in order, at most `window` without an ack; each
 * `spool-ack` cuts them from the spool and sends the next.
 */
export class SpoolSender {
  private readonly window: number;
  /** Numbers of records on the wire (gaps count once), oldest first. */
  private inflight: number[] = [];
  private sentUpTo = 0;
  /**
   * Findings the spool could not take (its directory gone and not yet recreatable, a full disk): held here,
   * in order, and spooled before anything newer, so a finding in flight is never lost.
   */
  private held: RecordBody[] = [];

  constructor(
    private readonly spool: Spool,
    private readonly link: SpoolLink,
    private readonly o: SpoolSenderOptions,
  ) {
    this.window = o.window ?? REPLAY_WINDOW;
    this.sentUpTo = spool.acked.n;
    link.on('welcome', () => this.restart());
    link.on('closed', () => {
      this.inflight = [];
      this.sentUpTo = this.spool.acked.n;
      this.spool.protectUpTo = 0;
    });
    link.on('spool-ack', (a) => this.onAck(a));
  }

  /** The chain head for `hello` and heartbeats. */
  head(): SpoolHead {
    // Pending: records on the wire, or still in the file to send. A spool cut short by hand has
    // neither while its head is ahead of the acks: the server takes that as records missing.
    let pending = this.inflight.length > 0 || this.held.length > 0;
    if (!pending && this.spool.pending) {
      try {
        pending = this.spool.read(this.sentUpTo, 1).length > 0;
      } catch (err) {
        // The file cannot be read now: say pending, so the server waits for the records instead of calling them lost.
        this.o.log.error({ err: (err as Error).message }, 'spool unreadable for the chain head');
        pending = true;
      }
    }
    return { n: this.spool.head.n, hash: this.spool.head.hash, pending };
  }

  /**
   * Records sent on this connection that the server has not acknowledged (gap markers left out): when the
   * server turns out to have stopped answering, it may never have heard them.
   */
  unheard(): SpoolRecord[] {
    if (!this.inflight.length) return [];
    this.spool.ensure();
    return this.spool.read(this.spool.acked.n, this.sentUpTo - this.spool.acked.n).filter((r): r is SpoolRecord => !('gap' in r));
  }

  /**
   * Appends a finding to the spool, then sends it if the link is up. Returns the record, or null when the
   * spool cannot take it now: the finding is then held in memory and spooled by the next {@link retry} or
   * submit, before anything newer. Never throws.
   */
  submit(body: RecordBody): SpoolRecord | null {
    this.held.push(body);
    if (this.held.length > MAX_HELD)
      this.o.log.error({ dropped: this.held.splice(0, this.held.length - MAX_HELD).length }, 'spool unwritable for too long: oldest held findings dropped');
    const recs = this.drain();
    return recs.at(-1)?.body === body ? recs.at(-1)! : null;
  }

  /** Spools the findings held since the spool last failed (the main loop calls it every cycle). */
  retry(): void {
    if (this.held.length) this.drain();
  }

  /** Spools held findings in order until one fails; sends what was spooled. */
  private drain(): SpoolRecord[] {
    const online = this.link.isConnected;
    const done: SpoolRecord[] = [];
    while (this.held.length) {
      const body = this.held[0]!;
      let rec: SpoolRecord;
      try {
        rec = cpuLedger.run('spool/append', () => this.spool.append(body, recordSeverity(body, this.o.criticalPath), this.origin()));
      } catch (err) {
        this.o.log.error({ err: (err as Error).message, held: this.held.length }, 'cannot spool a finding; holding it in memory and trying again');
        break;
      }
      this.held.shift();
      done.push(rec);
      try {
        this.o.onAppended?.(rec, online);
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'fallback write failed');
      }
    }
    try {
      this.pump();
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, 'cannot send from the spool; the next welcome or ack tries again');
    }
    return done;
  }

  /** A fresh origin: this boot, its next sequence number, now. */
  origin(): SpoolRecord['origin'] {
    return { bootId: this.link.bootId, seq: this.link.takeSeq(), at: this.o.clock.now() };
  }

  private restart(): void {
    this.inflight = [];
    this.sentUpTo = this.spool.acked.n;
    if (this.spool.pending) this.o.log.info({ from: this.sentUpTo + 1, head: this.spool.head.n }, 'replaying the spool');
    this.pump();
  }

  private onAck(a: { n: number; hash: string }): void {
    this.spool.ack(a.n, a.hash);
    while (this.inflight.length && this.inflight[0]! <= a.n) this.inflight.shift();
    this.pump();
  }

  /** Sends the next records from the file while the window has room. */
  private pump(): void {
    if (!this.link.isConnected) return;
    while (this.inflight.length < this.window) {
      const recs = this.spool.read(this.sentUpTo, this.window - this.inflight.length);
      if (!recs.length) return;
      for (const record of recs) {
        if (!this.link.sendMessage({ type: 'record', record })) return;
        this.sentUpTo = record.n;
        this.spool.protectUpTo = record.n;
        this.inflight.push(record.n);
      }
    }
  }
}
