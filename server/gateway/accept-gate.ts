import type { Socket } from 'node:net';
import type { Server } from 'node:tls';

export interface AcceptGateOptions {
  /** Connections admitted at once: from their first TLS byte until {@link AcceptGate.release} (or their close). */
  maxInFlight: number;
  /**
   * A slot is freed after this long whatever its connection does, ms: a peer that stalls its handshake must not
   * keep a slot for the whole handshake timeout (256 of them would shut every agent out meanwhile).
   */
  slotMs: number;
  /**
   * A connection queued longer than this is closed unread, ms: its peer has given up meanwhile (the agent's
   * opening handshake times out after 10 s), and reading it would cost a handshake nobody waits for.
   */
  maxWaitMs: number;
  /** Monotonic ms (performance.now in production). */
  now: () => number;
}

interface Queued {
  raw: Socket;
  at: number;
}

/**
 * Admits a TLS server's new TCP connections a bounded number at a time, the others waiting unread in arrival
 * order. Without it a reconnect storm hands every connection to TLS at once: the server shares its one thread
 * among thousands of handshakes, each takes as long as all of them, and past the peers' handshake timeout they
 * all fail together, the work done for them lost, and the fleet backs off further (congestion collapse). With
 * it each admitted connection is served in about `maxInFlight` reconnects' time.
 *
 * Connections arrive paused (`pauseOnConnect`: the kernel keeps their ClientHello) and reach TLS through the
 * server's own connection listener, called when admitted. A slot is freed by {@link release} (the caller's
 * "this one is past the expensive part"), by the socket's close, or after `slotMs`, whichever comes first.
 */
export class AcceptGate {
  private readonly queue: (Queued | undefined)[] = [];
  private head = 0;
  /** Admitted connections and the timer that frees their slot at the latest. */
  private readonly inFlight = new Map<Socket, NodeJS.Timeout>();
  private readonly wrap: (raw: Socket) => void;
  /** Queued connections closed because they waited past `maxWaitMs`, since the start. */
  expired = 0;

  constructor(
    server: Server,
    private readonly o: AcceptGateOptions,
  ) {
    // tls.Server wraps each accepted socket in its one 'connection' listener (Node 20, 24; accept-gate.test.ts checks it).
    const own = server.listeners('connection');
    if (own.length !== 1) throw new Error(`AcceptGate needs the TLS server's one connection listener (found ${own.length})`);
    const tlsListener = own[0] as (raw: Socket) => void;
    this.wrap = (raw) => tlsListener.call(server, raw);
    server.removeAllListeners('connection');
    (server as Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
    server.on('connection', (raw: Socket) => this.offer(raw));
  }

  /** Connections waiting to be admitted. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Connections admitted and not yet released. */
  get admitted(): number {
    return this.inFlight.size;
  }

  /** The admitted connection `raw` (the TCP socket under the TLS one) is past its handshake: its slot goes to the next. */
  release(raw: Socket | undefined): void {
    const t = raw && this.inFlight.get(raw);
    if (!t) return;
    clearTimeout(t);
    this.inFlight.delete(raw);
    this.pump();
  }

  /** Closes every queued connection (the server is stopping: they would otherwise hold its close). */
  destroyQueued(): void {
    for (let i = this.head; i < this.queue.length; i++) this.queue[i]?.raw.destroy();
    this.queue.length = 0;
    this.head = 0;
  }

  private offer(raw: Socket): void {
    raw.on('error', () => {}); // a reset while queued: nothing reads it yet
    if (this.inFlight.size < this.o.maxInFlight && this.queued === 0) this.admit(raw);
    else this.queue.push({ raw, at: this.o.now() });
  }

  private admit(raw: Socket): void {
    this.inFlight.set(
      raw,
      setTimeout(() => this.release(raw), this.o.slotMs),
    );
    raw.once('close', () => this.release(raw));
    this.wrap(raw);
  }

  private pump(): void {
    const now = this.o.now();
    while (this.inFlight.size < this.o.maxInFlight && this.head < this.queue.length) {
      const q = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (q.raw.destroyed) continue;
      if (now - q.at > this.o.maxWaitMs) {
        this.expired++;
        q.raw.destroy();
        continue;
      }
      this.admit(q.raw);
    }
    // Compact now and then, so the array does not grow with every connection ever queued.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
