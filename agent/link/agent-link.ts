import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { type ConnectionOptions, createSecureContext, type SecureContext, connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import type { CheckerDeclaration, RunChecker } from '../../shared/checker-messages.ts';
import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { type AgentMessage, CloseCode, type HostFacts, MAX_FRAME_BYTES, PROTOCOL_VERSION, parseFrame, ServerMessage, type SpoolHead, type Welcome } from '../../shared/protocol.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import type { Identity } from '../identity/state-files.ts';
import { Backoff } from './backoff.ts';
import { probeServer } from './server-probe.ts';

export interface LinkOptions {
  /** The server, or several in order of preference: the link fails over to the next when one is gone. */
  url: string | readonly string[];
  /**
   * With several servers: how long the link stays on one that is not the first before it goes back to the
   * first (if that one answers a health probe), in ms, plus up to half as much again at random. 0: it stays.
   */
  failbackMs?: number;
  identity: Identity;
  clock: Clock;
  log: Logger;
  intervalMs: number;
  jitterMs: number;
  agentVersion: string;
  facts: () => HostFacts;
  /**
   * SHA-256 of the agent's own executable, measured at start; the server
   * compares it with the accepted one. A promise lets the hash run while the
   * connection is set up: `hello` goes out once both are ready.
   */
  exeSha256?: string | Promise<string | undefined>;
  /** The executable's path (process.execPath), sent with its hash. */
  exePath?: string;
  random?: () => number;
  /** SHA-256 of the measured state for each heartbeat, or undefined before the first scan. */
  digest?: () => string | undefined;
  /** The spool's chain head for `hello` and each heartbeat. */
  spoolHead?: () => SpoolHead;
  /** The checkers the config names, with the files each hashes before a run, for `hello`. */
  checkers?: () => CheckerDeclaration[];
}

/**
 * Every how many heartbeats one asks the server for an ack (`wantAck`): the agent's proof that the server
 * still hears it. Each ack is a TLS write on the server; 1 in 3 keeps the proof within about 3 intervals.
 */
export const ACK_EVERY = 3;

/**
 * Intervals a reply may stay owed before the link is dropped and dialled again. A half-open connection (a
 * firewall that drops, a middlebox that lost its state, a frozen server) looks healthy to TCP for about 15
 * minutes. Long enough that a server that hears but cannot store (a full disk: no acks) is not hit by a
 * reconnect storm every interval; the network watch reports the silence well before this.
 */
export const SILENT_INTERVALS_BEFORE_REDIAL = 6;

/** With several servers, the next one is dialled after a random wait up to this long (ms): a fleet does not move in lockstep. */
export const FAILOVER_JITTER_MS = 1000;
/** Default {@link LinkOptions.failbackMs}: ten minutes on another server before trying the first again. */
export const FAILBACK_MS = 600_000;

/** What each event of the link hands its listeners. */
export interface LinkEvents {
  /** The server accepted `hello`. */
  welcome: Welcome;
  /** The sequence number the server acknowledged. */
  ack: number;
  /** The connection closed (the link dials again unless stopping). */
  closed: { code: number; reason: string };
  /** The server asks for a full report; the reason it gives. */
  'request-report': string;
  /** The server committed the spool up to this record. */
  'spool-ack': { n: number; hash: string };
  /** The server asks for a run of a configured checker (validated; the agent decides whether it may). */
  'run-checker': RunChecker;
}

/** A link event's name. */
export type LinkEvent = keyof LinkEvents;

/** A listener for one link event. */
export type LinkListener<E extends LinkEvent> = (arg: LinkEvents[E]) => void;

/** A message body without the envelope the link fills in (boot id, sequence, time). */
export type Unenveloped<M> = M extends AgentMessage ? Omit<M, 'bootId' | 'seq' | 'sentAt'> : never;

/**
 * The agent's connection to the server: mutual-TLS WebSocket, `hello`, then a
 * heartbeat every interval ± jitter, reconnecting with capped exponential
 * backoff. The sequence number only grows within this process (one boot id).
 */
export class AgentLink {
  private boot = randomUUID();
  private seq = 0;
  /** When the link last went down (or the process started), while it is down; null while connected. */
  private downSince: number | null;
  private ws: WebSocket | null = null;
  private tlsContext: SecureContext | undefined;
  private tlsSession: Buffer | undefined;
  private lastResumed = false;
  private beatTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private stopping = false;
  private connected = false;
  /** When the oldest reply still owed went out (to hello, a heartbeat asking for an ack, a record); null if none is. */
  private owedSince: number | null = null;
  private silenceTimer: TimerHandle | undefined;
  /** Heartbeats sent on this connection (every ACK_EVERY-th asks for an ack). */
  private beats = 0;
  /** The connection on which `hello` went out: a stop before its `welcome` still says goodbye there. */
  private helloSentOn: WebSocket | null = null;
  private readonly backoff: Backoff;
  /**
   * The servers in order of preference, and the one dialled now. Logs name a server by its place in this
   * list (0 first), never by its address: the agent's output must not point an intruder at the server.
   */
  private readonly urls: readonly string[];
  private current = 0;
  /** Servers that failed in a row since the last `welcome`: after a whole round the backoff applies. */
  private failedInRow = 0;
  /** Set while the link leaves a server on purpose to go back to the first. */
  private returning = false;
  private failbackTimer: TimerHandle | undefined;
  private readonly listeners = new Map<LinkEvent, Set<(arg: never) => void>>();

  constructor(private readonly o: LinkOptions) {
    this.downSince = o.clock.now();
    this.urls = typeof o.url === 'string' ? [o.url] : [...o.url];
    this.backoff = new Backoff({ baseMs: 500, capMs: Math.max(5_000, Math.min(30_000, o.intervalMs * 3)), floorMs: 100, random: o.random });
  }

  /** Registers a listener (tests and the runner use `welcome`, `ack`, `closed`). */
  on<E extends LinkEvent>(ev: E, fn: LinkListener<E>): void {
    let set = this.listeners.get(ev);
    if (!set) this.listeners.set(ev, (set = new Set()));
    set.add(fn);
  }

  /** Calls each listener; one that throws is logged and the others still run (the socket's callbacks must not throw). */
  private emit<E extends LinkEvent>(ev: E, arg: LinkEvents[E]): void {
    for (const fn of (this.listeners.get(ev) ?? []) as Set<LinkListener<E>>) {
      try {
        fn(arg);
      } catch (err) {
        this.o.log.error({ event: ev, err: (err as Error).message }, 'link listener failed; carrying on');
      }
    }
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** This run's boot id; a new one is taken when the server refuses the old as replayed (a restored snapshot). */
  get bootId(): string {
    return this.boot;
  }

  /** Since when the server has been unreachable (ms since the epoch), or null while connected. */
  get disconnectedSince(): number | null {
    return this.downSince;
  }

  /**
   * Since when the server has owed a reply (ms since the epoch), or null when it has answered everything sent.
   * A reply takes milliseconds; one owed for longer than an interval means the server no longer hears the agent.
   */
  get unansweredSince(): number | null {
    return this.owedSince;
  }

  /** The server dialled now (or last). */
  get serverUrl(): string {
    return this.urls[this.current]!;
  }

  /** Takes the next sequence number of this boot (spooled records keep theirs as their origin). */
  takeSeq(): number {
    return this.nextSeq();
  }

  start(): void {
    this.redial();
  }

  /** Dials; a dial that throws before it has a socket is logged and tried again after the backoff. */
  private redial(): void {
    try {
      this.connect();
    } catch (err) {
      if (this.stopping) return;
      const server = this.current;
      const delay = this.nextDelay();
      this.o.log.error({ err: (err as Error).message, retryInMs: delay, server, next: this.current }, 'cannot dial the server; trying again');
      this.retryTimer = this.o.clock.setTimeout(() => this.redial(), delay);
    }
  }

  private connect(): void {
    if (this.stopping) return;
    // One secure context per link, and the TLS session (ticket) kept across
    // reconnects: after a server restart a fleet resumes instead of paying a
    // full mutual-TLS handshake each (the reconnect storm).
    this.tlsContext ??= this.makeTlsContext();
    const ws = new WebSocket(new URL('/agent', this.serverUrl), {
      rejectUnauthorized: true,
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      createConnection: ((opts: ConnectionOptions & { host?: string }) => {
        const sock = tlsConnect({
          ...opts,
          path: undefined,
          servername: isIP(opts.host ?? '') ? '' : opts.host,
          secureContext: this.tlsContext,
          session: this.tlsSession,
          rejectUnauthorized: true,
        } as ConnectionOptions);
        sock.on('session', (session: Buffer) => {
          this.tlsSession = session;
        });
        sock.once('secureConnect', () => {
          this.lastResumed = sock.isSessionReused();
        });
        return sock;
      }) as never,
    });
    this.ws = ws;
    ws.on('open', () => {
      const hello = (exeSha256: string | undefined) => {
        if (ws !== this.ws || this.stopping) return; // closed (and perhaps replaced) while the hash was still running
        let facts: HostFacts;
        let spool: SpoolHead | undefined;
        let checkers: CheckerDeclaration[] | undefined;
        try {
          facts = this.o.facts();
          spool = this.o.spoolHead?.();
          checkers = this.o.checkers?.();
        } catch (err) {
          this.o.log.error({ err: (err as Error).message }, 'cannot build hello; dialling again');
          ws.terminate();
          return;
        }
        this.helloSentOn = ws;
        this.send({
          type: 'hello',
          bootId: this.bootId,
          seq: this.nextSeq(),
          sentAt: this.o.clock.now(),
          protocol: PROTOCOL_VERSION,
          agentVersion: this.o.agentVersion,
          interval: this.o.intervalMs,
          facts,
          ...(exeSha256 ? { exeSha256, ...(this.o.exePath ? { exePath: this.o.exePath } : {}) } : {}),
          ...(spool ? { spool } : {}),
          ...(checkers?.length ? { checkers } : {}),
        });
      };
      const h = this.o.exeSha256;
      if (typeof h === 'object') void h.then(hello, () => hello(undefined));
      else hello(h);
    });
    ws.on('message', (data) => cpuLedger.run('frame in', () => this.onFrame(data as Buffer)));
    ws.on('unexpected-response', (_req, res) => {
      this.o.log.warn({ status: res.statusCode }, 'server refused the connection');
      ws.terminate();
    });
    ws.on('error', (err) => this.o.log.warn({ err: err.message }, 'connection error'));
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private nextSeq(): number {
    return this.seq++;
  }

  private send(m: AgentMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(m));
    if (this.owedSince === null && (m.type === 'hello' || m.type === 'record' || (m.type === 'heartbeat' && m.wantAck))) {
      this.owedSince = this.o.clock.now();
      const waitMs = SILENT_INTERVALS_BEFORE_REDIAL * this.o.intervalMs;
      this.silenceTimer = this.o.clock.setTimeout(() => {
        if (ws !== this.ws) return;
        this.o.log.warn({ silentForS: Math.round(waitMs / 1000) }, 'server has not answered: dropping the connection and dialling again');
        ws.terminate();
      }, waitMs);
    }
    return true;
  }

  /** The server answered: nothing is owed any more. */
  private heard(): void {
    this.owedSince = null;
    this.o.clock.clearTimeout(this.silenceTimer);
  }

  private onFrame(data: Buffer): void {
    const r = parseFrame(ServerMessage, data);
    if (!r.ok) {
      this.o.log.warn({ error: r.error }, 'bad frame from server, reconnecting');
      this.ws?.terminate();
      return;
    }
    this.heard();
    if (r.value.type === 'welcome') {
      if (this.stopping) return; // the goodbye is on its way: no heartbeats after it
      this.connected = true;
      this.downSince = null;
      this.beats = 0;
      this.backoff.reset();
      this.failedInRow = 0;
      this.o.log.info({ host: r.value.host, tlsResumed: this.lastResumed, server: this.current }, 'connected');
      this.scheduleFailback();
      this.scheduleBeat();
      this.emit('welcome', r.value);
    } else if (r.value.type === 'request-report') {
      this.emit('request-report', r.value.reason);
    } else if (r.value.type === 'spool-ack') {
      this.emit('spool-ack', { n: r.value.n, hash: r.value.hash });
    } else if (r.value.type === 'run-checker') {
      this.emit('run-checker', r.value);
    } else {
      this.emit('ack', r.value.seq);
    }
  }

  private scheduleBeat(): void {
    this.o.clock.clearTimeout(this.beatTimer);
    const j = this.o.jitterMs;
    const delay = Math.max(50, this.o.intervalMs + Math.round(((this.o.random ?? Math.random)() * 2 - 1) * j));
    this.beatTimer = this.o.clock.setTimeout(() => cpuLedger.run('heartbeat', () => this.beat()), delay);
  }

  /** Sends one heartbeat and schedules the next. */
  private beat(): void {
    let digest: string | undefined;
    let spool: SpoolHead | undefined;
    try {
      digest = this.o.digest?.();
      spool = this.o.spoolHead?.();
    } catch (err) {
      // The heartbeat is the agent's sign of life: it goes out without the part that failed.
      this.o.log.error({ err: (err as Error).message }, 'heartbeat fields failed; sending the heartbeat without them');
    }
    const wantAck = this.beats++ % ACK_EVERY === 0;
    if (
      this.send({
        type: 'heartbeat',
        bootId: this.bootId,
        seq: this.nextSeq(),
        sentAt: this.o.clock.now(),
        ...(digest ? { digest } : {}),
        ...(spool ? { spool } : {}),
        ...(wantAck ? { wantAck } : {}),
      })
    )
      this.scheduleBeat();
  }

  /**
   * Sends a message now, filling in the envelope; false when not connected
   * (the checks then rely on the full report sent at the next `welcome`).
   */
  sendMessage(body: Unenveloped<AgentMessage>): boolean {
    if (!this.connected) return false;
    return this.send({ ...body, bootId: this.bootId, seq: this.nextSeq(), sentAt: this.o.clock.now() } as AgentMessage);
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    // Down since the server stopped answering, when it had (a dropped half-open link), else since now.
    if (this.connected || this.downSince === null) this.downSince = this.owedSince ?? this.o.clock.now();
    this.heard();
    this.connected = false;
    if (code === CloseCode.REPLAY) {
      // The server saw this boot's sequence go backwards: a VM restored from a
      // snapshot resumes an old process. Start a new boot, so the agent is not locked out.
      this.boot = randomUUID();
      this.seq = 0;
      this.o.log.warn({ bootId: this.boot }, 'server refused a replayed sequence; continuing with a new boot id');
    }
    this.o.clock.clearTimeout(this.beatTimer);
    this.o.clock.clearTimeout(this.failbackTimer);
    this.emit('closed', { code, reason });
    if (this.stopping) return;
    const server = this.current;
    const delay = this.nextDelay();
    this.o.log.warn({ code, reason, retryInMs: delay, server, next: this.current }, 'disconnected');
    this.retryTimer = this.o.clock.setTimeout(() => this.redial(), delay);
  }

  /**
   * The wait before the next dial, and which server it goes to. With one server: the backoff. With several,
   * a link that failed or lost its server moves to the next one after a short random wait, and backs off
   * only once every server failed in a row (each of them is gone, or the network is).
   */
  private nextDelay(): number {
    if (this.returning) {
      // Leaving on purpose for the first server, which just answered a probe: dial it at once.
      this.returning = false;
      this.current = 0;
      return Math.round((this.o.random ?? Math.random)() * 100);
    }
    if (this.urls.length === 1) return this.backoff.next();
    this.current = (this.current + 1) % this.urls.length;
    this.failedInRow++;
    if (this.failedInRow >= this.urls.length) {
      this.failedInRow = 0;
      return this.backoff.next();
    }
    return Math.round((this.o.random ?? Math.random)() * FAILOVER_JITTER_MS);
  }

  /**
   * On a server that is not the first, goes back to the first after {@link LinkOptions.failbackMs} (plus up to
   * half again at random, so a fleet spreads its return), once that one answers a health probe: the first is
   * the operator's choice (nearest, largest), and a probe first means a first server still gone or frozen
   * costs nothing. The agent closes with {@link CloseCode.MOVING}, which the server does not alarm on.
   */
  private scheduleFailback(): void {
    this.o.clock.clearTimeout(this.failbackTimer);
    const base = this.o.failbackMs ?? FAILBACK_MS;
    if (this.current === 0 || base <= 0) return;
    const wait = base + Math.round((this.o.random ?? Math.random)() * (base / 2));
    this.failbackTimer = this.o.clock.setTimeout(() => {
      const ws = this.ws;
      if (!ws || !this.connected || this.stopping || this.current === 0) return;
      void probeServer(this.urls[0]!, this.tlsOptions(), Math.min(10_000, this.o.intervalMs * 2)).then((ok) => {
        if (ws !== this.ws || !this.connected || this.stopping) return;
        if (!ok) return this.scheduleFailback();
        this.o.log.info({ from: this.current, to: 0 }, 'the first server answers again: going back to it');
        this.returning = true;
        ws.close(CloseCode.MOVING, 'returning to the first server');
      });
    }, wait);
  }

  /** The TLS settings of a probe: this agent's identity, the pinned CA. */
  private tlsOptions(): { secureContext: SecureContext } {
    this.tlsContext ??= this.makeTlsContext();
    return { secureContext: this.tlsContext };
  }

  private makeTlsContext(): SecureContext {
    return createSecureContext({
      key: this.o.identity.keyPem,
      cert: this.o.identity.certPem,
      ca: this.o.identity.caPem,
      minVersion: 'TLSv1.2',
    });
  }

  /**
   * Stops for good: sends `goodbye` (so the server records a deliberate stop,
   * not a crash), waits for its ack up to `waitMs`, and closes.
   */
  async stop(reason: string, waitMs = 2000): Promise<void> {
    this.stopping = true;
    this.o.clock.clearTimeout(this.beatTimer);
    this.o.clock.clearTimeout(this.failbackTimer);
    this.o.clock.clearTimeout(this.retryTimer);
    this.o.clock.clearTimeout(this.silenceTimer);
    const ws = this.ws;
    if (!ws) return;
    // Once hello is out the server takes a goodbye (frames are read in order), welcome or not: a stop
    // in that window would otherwise read as a crash (agent-disconnected instead of agent-stopped).
    if (this.connected || (this.helloSentOn === ws && ws.readyState === WebSocket.OPEN)) {
      const seq = this.nextSeq();
      const acked = new Promise<void>((resolve) => {
        const t = this.o.clock.setTimeout(resolve, waitMs);
        this.on('ack', (s) => {
          if (s === seq) {
            this.o.clock.clearTimeout(t);
            resolve();
          }
        });
        ws.once('close', () => {
          this.o.clock.clearTimeout(t);
          resolve();
        });
      });
      this.send({ type: 'goodbye', bootId: this.bootId, seq, sentAt: this.o.clock.now(), reason });
      await acked;
    }
    await new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      const t = this.o.clock.setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        this.o.clock.clearTimeout(t);
        resolve();
      });
      ws.close(CloseCode.NORMAL, 'agent stopping');
    });
  }
}
