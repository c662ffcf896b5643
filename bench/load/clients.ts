/**
 * One load-generator worker process: runs a slice of the simulated agents.
 * Each agent opens a real mutual-TLS WebSocket with its own certificate,
 * says `hello` like agent/link/agent-link.ts, then heartbeats every interval ± jitter
 * (the agent's defaults: 10 s ± 2 s), and reconnects with the agent's own
 * backoff. It keeps the TLS session (ticket) the server hands out and offers
 * it on reconnect, so a server restart costs resumed, not full, handshakes.
 *
 * Events at a set rate (`eventsPerSec`, this worker's share of the fleet's):
 * a random agent that is up changes one of its files and sends the change
 * as the agent does, a hash-chained spool `record` (shared/spool-chain.ts)
 * that the server commits before its `spool-ack`; unacknowledged records are
 * sent again after a reconnect. Each agent sends its full report at each
 * welcome, as the agent does (the first, empty, is its baseline), so a change
 * is judged and opens an alarm, as on a real host, and a reconnect owes the
 * server nothing; its heartbeats carry the digest of what it has reported and
 * its spool head, so the server sees no divergence.
 *
 * Heartbeats ask for an ack every `ackEvery` beats, as agent/link/agent-link.ts does
 * (ACK_EVERY); the others get no reply.
 *
 * Reports to the parent (IPC) every second: connection counts, handshake
 * kinds, and heartbeat and event latencies (send → ack receipt; the server
 * acks after its commit, so this bounds send-to-commit from above; only the
 * heartbeats that asked for an ack are timed).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type ConnectionOptions, createSecureContext, type SecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { FAILOVER_JITTER_MS } from '../../agent/link/agent-link.ts';
import { Backoff } from '../../agent/link/backoff.ts';
import type { FileEntry, SpoolRecord } from '../../shared/protocol.ts';
import { GENESIS_HASH, recordHash } from '../../shared/spool-chain.ts';
import { canonicalJson, stateDigest } from '../../shared/state-digest.ts';
import type { FleetAgent } from './fleet.ts';

/** A spooled record not yet acknowledged, and when it was last sent on the current connection. */
interface Unacked {
  rec: SpoolRecord;
  sentAt?: number;
}

/** Files each simulated agent changes, in turn: a change to a file already changed updates its open alarm. */
const EVENT_PATHS = ['/etc/cron.d/tw-bench', '/etc/tripwire/tw-bench.cfg', '/usr/local/sbin/tw-bench', '/etc/aide/tw-bench.conf'];

export interface WorkerConfig {
  port: number;
  /**
   * Every instance's port, as the agent's `server:` list (absent: `port` alone). Agent i starts on entry
   * i mod the list's length (a fleet whose configs list the instances in different orders), and moves to the
   * next after a random wait up to FAILOVER_JITTER_MS when its connection closes or is refused, backing off
   * only once every entry failed in a row, as agent/link/agent-link.ts does.
   */
  ports?: number[];
  /** File with one FleetAgent JSON per line, and which lines are ours. */
  agentsFile: string;
  from: number;
  to: number;
  keyFile: string;
  caFile: string;
  intervalMs: number;
  jitterMs: number;
  /** Source addresses to spread connections over (ephemeral ports are per address). */
  localAddresses: string[];
  /** `steady`: heartbeat on the interval; `flood`: next heartbeat as soon as the ack comes. */
  mode: 'steady' | 'flood';
  /** Keep and offer TLS sessions (tickets). */
  resume: boolean;
  /** Spread the initial connects over this many ms. */
  rampMs: number;
  /** Events (spooled records) a second over this worker's agents; 0 for none. */
  eventsPerSec: number;
  /** Every how many heartbeats one asks for an ack (`wantAck`), as the agent does; 0 never. Flood mode asks on each. */
  ackEvery: number;
}

export interface WorkerReport {
  type: 'report';
  at: number;
  total: number;
  open: number;
  up: number;
  sent: number;
  acks: number;
  full: number;
  resumed: number;
  closes: number;
  errors: number;
  refused: number;
  /** Heartbeat latencies since the last report, ms. */
  lat: number[];
  /** Events sent, and acknowledged by the server (spool-ack) with their latencies since the last report, ms. */
  events: number;
  eventAcks: number;
  evLat: number[];
  rssMb: number;
  /** Connection errors by kind (the error's code, or `timeout` for the opening handshake's), since the start. */
  errorKinds: Record<string, number>;
}

const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
const ports = cfg.ports?.length ? cfg.ports : [cfg.port];
const keyPem = readFileSync(cfg.keyFile, 'utf8');
const caPem = readFileSync(cfg.caFile, 'utf8');
const fleet = readFileSync(cfg.agentsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(cfg.from, cfg.to)
  .map((l) => JSON.parse(l) as FleetAgent);

const c = { open: 0, up: 0, sent: 0, acks: 0, full: 0, resumed: 0, closes: 0, errors: 0, refused: 0, events: 0, eventAcks: 0 };
let lat: number[] = [];
let evLat: number[] = [];
let wasAllUp = false;
const errorKinds: Record<string, number> = {};

class SimAgent {
  private ctx?: SecureContext;
  private session?: Buffer;
  private ws: WebSocket | null = null;
  private readonly bootId = randomUUID();
  private seq = 1;
  private up = false;
  private opened = false;
  private beatTimer?: NodeJS.Timeout;
  private sentAt = new Map<number, number>();
  // The agent's spool and measured state, as far as the server is concerned.
  private spoolN = 0;
  private spoolHash = GENESIS_HASH;
  private ackedN = 0;
  /** Records sent and not yet acknowledged (sent again after a reconnect). */
  private unacked: Unacked[] = [];
  private readonly files = new Map<string, FileEntry>();
  private digest = stateDigest([]);
  private changes = 0;
  /**
   * Starts at a random phase: every agent counting from 0 at its connect asked for acks in step with the others,
   * so the window's share of beats asking for one (and its commits) followed how fast the server connected the
   * fleet (a quarter against the reference, a third or more against ours), not 1 in `ackEvery`.
   */
  private beats = Math.floor(Math.random() * Math.max(1, cfg.ackEvery));
  private readonly backoff = new Backoff({ baseMs: 500, capMs: Math.max(5_000, Math.min(30_000, cfg.intervalMs * 3)), floorMs: 100 });
  /** Which of `ports` this agent dials now, and how many in a row failed. */
  private cur: number;
  private failedInRow = 0;

  constructor(
    private readonly a: FleetAgent,
    private readonly localAddress: string,
    index: number,
  ) {
    this.cur = index % ports.length;
  }

  connect(): void {
    // One secure context per agent, made once: parsing key, certificate and CA on every reconnect would be the generator's own storm.
    this.ctx ??= createSecureContext({ key: keyPem, cert: this.a.cert, ca: caPem, minVersion: 'TLSv1.2' });
    const ws = new WebSocket(`wss://127.0.0.1:${ports[this.cur]}/agent`, {
      rejectUnauthorized: true,
      maxPayload: 64 * 1024,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      createConnection: ((opts: ConnectionOptions & { host?: string }) => {
        const sock: TLSSocket = tlsConnect({
          ...opts,
          path: undefined,
          servername: isIP(opts.host ?? '') ? '' : opts.host,
          secureContext: this.ctx,
          session: cfg.resume ? this.session : undefined,
          localAddress: this.localAddress,
        } as ConnectionOptions);
        sock.on('session', (s: Buffer) => {
          if (cfg.resume) this.session = s;
        });
        sock.once('secureConnect', () => {
          if (sock.isSessionReused()) c.resumed++;
          else c.full++;
        });
        return sock;
      }) as never,
    });
    this.ws = ws;
    ws.on('open', () => {
      c.open++;
      this.opened = true;
      this.send({
        type: 'hello',
        protocol: 1,
        agentVersion: 'bench-load',
        interval: cfg.intervalMs,
        facts: { hostname: this.a.host, os: 'linux', release: '6.1.0', arch: 'x64', runtime: 'bench', uptimeSec: 1000 },
        spool: this.head(),
      });
    });
    ws.on('message', (data) => this.onFrame(data as Buffer));
    ws.on('unexpected-response', (_req, res) => {
      c.refused++;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      c.errors++;
      const kind = err.code ?? (/timed out/.test(err.message) ? 'timeout' : 'other');
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    });
    ws.on('close', () => this.onClose(ws));
  }

  private onFrame(data: Buffer): void {
    const m = JSON.parse(data.toString()) as { type: string; seq?: number };
    if (m.type === 'welcome') {
      this.up = true;
      c.up++;
      this.backoff.reset();
      this.failedInRow = 0;
      // As agent/monitor/check-runner.ts does: the whole state as a full report at each welcome (the first becomes
      // the host's baseline). A reconnect of the same boot owes it: without it the server names the silence in
      // `agent-impersonated` (report-unanswered), on whichever instance the boot's digests were heard.
      this.send({ type: 'report', reportId: randomUUID(), part: 0, last: true, files: [...this.files.values()], daemons: [], mounts: [], ports: [] });
      for (const u of this.unacked) this.sendRecord(u); // replayed in order, as the agent's spool sender does
      if (cfg.mode === 'flood') this.beat();
      else this.schedule(Math.random() * cfg.intervalMs); // the fleet's phases are spread, as real agents' are
      checkAllUp();
    } else if (m.type === 'ack' && m.seq !== undefined) {
      const t = this.sentAt.get(m.seq);
      if (t !== undefined) {
        this.sentAt.delete(m.seq);
        lat.push(performance.now() - t);
        c.acks++;
      }
      if (cfg.mode === 'flood') this.beat();
    } else if (m.type === 'spool-ack') {
      const n = (m as { n?: number }).n ?? 0;
      while (this.unacked.length && this.unacked[0]!.rec.n <= n) {
        const u = this.unacked.shift()!;
        if (u.sentAt !== undefined) evLat.push(performance.now() - u.sentAt);
        c.eventAcks++;
      }
      this.ackedN = Math.max(this.ackedN, n);
    }
  }

  get isUp(): boolean {
    return this.up;
  }

  private head(): { n: number; hash: string; pending: boolean } {
    return { n: this.spoolN, hash: this.spoolHash, pending: this.ackedN < this.spoolN };
  }

  /** Sends a message in this agent's envelope (boot id, next sequence number, time); returns its sequence number. */
  private send(body: Record<string, unknown>): number {
    const seq = this.seq++;
    this.ws!.send(JSON.stringify({ ...body, bootId: this.bootId, seq, sentAt: Date.now() }));
    return seq;
  }

  /** One of its files changed: a spooled, hash-chained `event` record, sent at once. */
  change(): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const k = this.changes++;
    const t = BigInt(Date.now()) * 1_000_000n;
    const file: FileEntry = {
      path: EVENT_PATHS[k % EVENT_PATHS.length]!,
      class: 'critical',
      type: 'file',
      sha256: randomBytes(32).toString('hex'),
      size: 100 + k,
      mode: 0o100644,
      uid: 0,
      gid: 0,
      ino: String(1000 + k),
      nlink: 1,
      mtime: String(t),
      ctime: String(t),
    };
    this.files.set(file.path, file);
    this.digest = stateDigest([...this.files.values()].map((f) => ({ kind: 'file' as const, key: f.path, json: canonicalJson(f) })));
    const base = {
      n: this.spoolN + 1,
      prev: this.spoolHash,
      origin: { bootId: this.bootId, seq: this.seq, at: Date.now() },
      severity: 'critical' as const,
      body: { kind: 'event' as const, files: [file], gone: [], daemons: [], mounts: [], notes: [] },
    };
    const rec: SpoolRecord = { ...base, hash: recordHash(base) };
    this.spoolN = rec.n;
    this.spoolHash = rec.hash;
    const u: Unacked = { rec };
    this.unacked.push(u);
    c.events++;
    this.sendRecord(u);
  }

  private sendRecord(u: Unacked): void {
    u.sentAt = performance.now();
    this.send({ type: 'record', record: u.rec });
  }

  private schedule(delay: number): void {
    clearTimeout(this.beatTimer);
    this.beatTimer = setTimeout(() => {
      this.beat();
      this.schedule(Math.max(50, cfg.intervalMs + Math.round((Math.random() * 2 - 1) * cfg.jitterMs)));
    }, delay);
  }

  private beat(): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    // As agent/link/agent-link.ts sends it: the state digest and the spool head ride on every heartbeat (the digest of what
    // this agent has reported, empty until its first event, and its spool head).
    const every = cfg.mode === 'flood' ? 1 : cfg.ackEvery;
    const wantAck = every > 0 && this.beats++ % every === 0;
    const t = performance.now();
    const seq = this.send({ type: 'heartbeat', digest: this.digest, spool: this.head(), ...(wantAck ? { wantAck } : {}) });
    c.sent++;
    if (!wantAck) return;
    this.sentAt.set(seq, t);
    if (this.sentAt.size > 16) this.sentAt.delete(this.sentAt.keys().next().value!); // unacked ones are not kept forever
  }

  private onClose(ws: WebSocket): void {
    if (ws !== this.ws) return;
    c.closes++;
    if (this.opened) {
      this.opened = false;
      c.open--;
    }
    if (this.up) {
      this.up = false;
      c.up--;
      wasAllUp = false;
    }
    clearTimeout(this.beatTimer);
    this.sentAt.clear();
    for (const u of this.unacked) u.sentAt = undefined; // a record sent again after the reconnect is timed from then
    this.ws = null;
    setTimeout(() => this.connect(), this.nextDelay());
  }

  /** With one server the backoff; with several, the next one after a short random wait (see WorkerConfig.ports). */
  private nextDelay(): number {
    if (ports.length === 1) return this.backoff.next();
    this.cur = (this.cur + 1) % ports.length;
    if (++this.failedInRow >= ports.length) {
      this.failedInRow = 0;
      return this.backoff.next();
    }
    return Math.round(Math.random() * FAILOVER_JITTER_MS);
  }
}

const agents = fleet.map((a, i) => new SimAgent(a, cfg.localAddresses[i % cfg.localAddresses.length]!, cfg.from + i));

function checkAllUp(): void {
  if (!wasAllUp && c.up === agents.length) {
    wasAllUp = true;
    process.send!({ type: 'all-up', at: Date.now() });
  }
}

// Ramp: connect in small groups over rampMs so the initial full handshakes are not one burst.
const groups = Math.max(1, Math.ceil(agents.length / 50));
agents.forEach((a, i) => {
  setTimeout(() => a.connect(), Math.floor((i % groups) * (cfg.rampMs / groups)));
});

// Events: this worker's share of the fleet's rate, each from an agent picked at random among those up.
let eventsOn = cfg.eventsPerSec > 0;
if (eventsOn) {
  let due = 0;
  setInterval(() => {
    if (!eventsOn) return;
    due += cfg.eventsPerSec / 20;
    for (let tries = 0; due >= 1 && tries < 100; tries++) {
      const a = agents[Math.floor(Math.random() * agents.length)]!;
      if (!a.isUp) continue;
      a.change();
      due -= 1;
    }
    due = Math.min(due, cfg.eventsPerSec); // while nobody is up (a restart), do not save up a burst
  }, 50);
}

setInterval(() => {
  const r: WorkerReport = { type: 'report', at: Date.now(), total: agents.length, ...c, lat, evLat, rssMb: Math.round(process.memoryUsage().rss / 1048576), errorKinds };
  lat = [];
  evLat = [];
  process.send!(r);
}, 1000);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'exit') process.exit(0);
  if (m.cmd === 'stop-events') eventsOn = false; // so the parent can count sent against stored
});
process.on('disconnect', () => process.exit(0));
