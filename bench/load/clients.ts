/**
 * One load-generator worker process: runs a slice of the simulated agents.
 * Each agent opens a real mutual-TLS WebSocket with its own certificate,
 * says `hello` like agent/link.ts, then heartbeats every interval ± jitter
 * (the agent's defaults: 10 s ± 2 s), and reconnects with the agent's own
 * backoff. It keeps the TLS session (ticket) the server hands out and offers
 * it on reconnect, so a server restart costs resumed, not full, handshakes.
 *
 * Reports to the parent (IPC) every second: connection counts, handshake
 * kinds, and heartbeat latencies (send → ack receipt; the server acks after
 * its commit, so this bounds heartbeat-to-commit from above).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { Backoff } from '../../agent/backoff.ts';
import { GENESIS_HASH } from '../../shared/spool-chain.ts';
import { stateDigest } from '../../shared/state-digest.ts';
import type { FleetAgent } from './fleet.ts';

const EMPTY_DIGEST = stateDigest([]);
const EMPTY_SPOOL = { n: 0, hash: GENESIS_HASH, pending: false };

export interface WorkerConfig {
  port: number;
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
  rssMb: number;
}

const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
const keyPem = readFileSync(cfg.keyFile, 'utf8');
const caPem = readFileSync(cfg.caFile, 'utf8');
const fleet = readFileSync(cfg.agentsFile, 'utf8').split('\n').filter(Boolean).slice(cfg.from, cfg.to).map((l) => JSON.parse(l) as FleetAgent);

const c = { open: 0, up: 0, sent: 0, acks: 0, full: 0, resumed: 0, closes: 0, errors: 0, refused: 0 };
let lat: number[] = [];
let wasAllUp = false;

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
  private readonly backoff = new Backoff({ baseMs: 500, capMs: Math.max(5_000, Math.min(30_000, cfg.intervalMs * 3)), floorMs: 100 });

  constructor(private readonly a: FleetAgent, private readonly localAddress: string) {}

  connect(): void {
    // One secure context per agent, made once: parsing key, certificate and CA on every reconnect would be the generator's own storm.
    this.ctx ??= createSecureContext({ key: keyPem, cert: this.a.cert, ca: caPem, minVersion: 'TLSv1.2' });
    const ws = new WebSocket(`wss://127.0.0.1:${cfg.port}/agent`, {
      rejectUnauthorized: true,
      maxPayload: 64 * 1024,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      createConnection: ((opts: ConnectionOptions & { host?: string }) => {
        const sock: TLSSocket = tlsConnect({
          ...opts, path: undefined, servername: isIP(opts.host ?? '') ? '' : opts.host,
          secureContext: this.ctx, session: cfg.resume ? this.session : undefined, localAddress: this.localAddress,
        } as ConnectionOptions);
        sock.on('session', (s: Buffer) => { if (cfg.resume) this.session = s; });
        sock.once('secureConnect', () => { if (sock.isSessionReused()) c.resumed++; else c.full++; });
        return sock;
      }) as never,
    });
    this.ws = ws;
    ws.on('open', () => {
      c.open++;
      this.opened = true;
      ws.send(JSON.stringify({
        type: 'hello', bootId: this.bootId, seq: this.seq++, sentAt: Date.now(), protocol: 1, agentVersion: 'bench-load', interval: cfg.intervalMs,
        facts: { hostname: this.a.host, os: 'linux', release: '6.1.0', arch: 'x64', runtime: 'bench', uptimeSec: 1000 },
      }));
    });
    ws.on('message', (data) => this.onFrame(data as Buffer));
    ws.on('unexpected-response', (_req, res) => { c.refused++; res.resume(); ws.terminate(); });
    ws.on('error', () => { c.errors++; });
    ws.on('close', () => this.onClose(ws));
  }

  private onFrame(data: Buffer): void {
    const m = JSON.parse(data.toString()) as { type: string; seq?: number };
    if (m.type === 'welcome') {
      this.up = true;
      c.up++;
      this.backoff.reset();
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
    }
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
    const seq = this.seq++;
    this.sentAt.set(seq, performance.now());
    if (this.sentAt.size > 16) this.sentAt.delete(this.sentAt.keys().next().value!); // unacked ones are not kept forever
    // As agent/link.ts sends it: the state digest and the spool head ride on every heartbeat (here an agent with
    // nothing measured and an empty, drained spool, which is what the server has on record for these hosts).
    this.ws.send(JSON.stringify({ type: 'heartbeat', bootId: this.bootId, seq, sentAt: Date.now(), digest: EMPTY_DIGEST, spool: EMPTY_SPOOL }));
    c.sent++;
  }

  private onClose(ws: WebSocket): void {
    if (ws !== this.ws) return;
    c.closes++;
    if (this.opened) { this.opened = false; c.open--; }
    if (this.up) { this.up = false; c.up--; wasAllUp = false; }
    clearTimeout(this.beatTimer);
    this.sentAt.clear();
    this.ws = null;
    setTimeout(() => this.connect(), this.backoff.next());
  }

}

const agents = fleet.map((a, i) => new SimAgent(a, cfg.localAddresses[i % cfg.localAddresses.length]!));

function checkAllUp(): void {
  if (!wasAllUp && c.up === agents.length) {
    wasAllUp = true;
    process.send!({ type: 'all-up', at: Date.now() });
  }
}

// Ramp: connect in small groups over rampMs so the initial full handshakes are not one burst.
const groups = Math.max(1, Math.ceil(agents.length / 50));
agents.forEach((a, i) => setTimeout(() => a.connect(), Math.floor((i % groups) * (cfg.rampMs / groups))));

setInterval(() => {
  const r: WorkerReport = { type: 'report', at: Date.now(), total: agents.length, ...c, lat, rssMb: Math.round(process.memoryUsage().rss / 1048576) };
  lat = [];
  process.send!(r);
}, 1000);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
