import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { RecordMessage, SpoolAck, SpoolHead } from '../../shared/protocol.ts';
import type { EventLedger } from './event-ledger.ts';

/**
 * The spool side of one agent connection: stores each record through the
 * ledger and acknowledges it only after the commit; checks the chain head of
 * `hello` and of each heartbeat.
 */
export class SpoolSession {
  /** Records stored and duplicates acknowledged on this connection (for logs). */
  stored = 0;
  duplicates = 0;
  /**
   * The last head a heartbeat on this connection announced, once the ledger has checked it: the check is
   * idempotent, so the same head again needs no read. Dropped when this connection changes the chain (a
   * record, a hello).
   */
  private checked: SpoolHead | null = null;

  constructor(
    private readonly host: string,
    private readonly ledger: EventLedger,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly send: (m: SpoolAck) => void,
    /** The state measured changed (the baseline session's digest cache must go). */
    private readonly onApplied: () => void,
  ) {}

  /**
   * A hello's head, checked by the ledger in the hello's own transaction (hello-batcher.ts): logs what the
   * check found, and forgets the head a heartbeat announced before (a hello moves the chain).
   */
  noteHello(head: SpoolHead, r: 'ok' | 'rolled-back' | 'tampered'): void {
    this.checked = null;
    if (r !== 'ok')
      this.log.warn(
        { headN: head.n, result: r },
        r === 'rolled-back' ? 'agent state rolled back (restored snapshot?); continuing from its spool head' : 'agent spool head does not match the stored chain',
      );
  }

  /** Whether a head is an older point of the stored chain (a restored snapshot). */
  async isRollback(head: SpoolHead): Promise<boolean> {
    return this.ledger.isRollback(this.host, head);
  }

  /** Opens the "state rolled back" warning for a hello refused as replayed. */
  async rolledBack(bootId: string, head: SpoolHead): Promise<void> {
    this.log.warn({ bootId, headN: head.n }, 'agent came back with an older sequence and spool head (restored snapshot?)');
    await this.ledger.openRolledBack(this.host, this.clock.now(), { why: 'same boot id with an older sequence and spool head', bootId, headN: head.n });
  }

  /**
   * Checks a heartbeat's head. Nearly every heartbeat repeats the head before it: that one is not read again
   * (the spool chain read was 6 % of the server's CPU at 2,000 agents), unless `suspect` (another connection
   * holds the same certificate and may move the chain meanwhile).
   */
  async onHeartbeat(head: SpoolHead | undefined, bootId: string, suspect = false): Promise<void> {
    if (!head) return;
    const c = this.checked;
    if (!suspect && c !== null && c.n === head.n && c.hash === head.hash && c.pending === head.pending) return;
    this.checked = null;
    for (const p of await this.ledger.onHead(this.host, head, bootId, this.clock.now())) this.log.warn({ problem: p }, 'agent spool tampered');
    this.checked = head;
  }

  async onRecord(m: RecordMessage, suspect: boolean): Promise<void> {
    this.checked = null;
    const rec = m.record;
    if (!('gap' in rec) && rec.body.kind === 'event') for (const n of rec.body.notes) this.log.warn({ kind: n.kind, note: n.message, n: rec.n }, 'agent watch note');
    if (!('gap' in rec) && rec.body.kind === 'summary')
      this.log.warn({ dropped: rec.body.count, fromN: rec.body.fromN, toN: rec.body.toN }, 'agent spool overflowed: low-severity records summarised');
    const r = await this.ledger.accept(this.host, m.record, { bootId: m.bootId, suspect }, this.clock.now());
    if (r.stored) {
      this.stored++;
      this.onApplied();
    }
    if (r.duplicate) this.duplicates++;
    for (const p of r.problems) this.log.warn({ n: m.record.n, problem: p }, 'agent spool tampered');
    for (const a of r.opened) this.log.warn({ alarmId: a.id, kind: a.kind, subject: a.subject }, 'alarm opened');
    // After the commit: the agent may now drop the record for good.
    this.send({ type: 'spool-ack', n: r.ack.n, hash: r.ack.hash });
  }
}
