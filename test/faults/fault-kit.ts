/**
 * Shared pieces of the fault tests: agents enrolled straight into a data dir
 * (the row `enrollHost` writes, a certificate from the data dir's CA, no
 * token round trip), a raw agent that heartbeats and reconnects, /metrics and
 * /proc readers for a real `serve` process.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { openDatabase } from '../../server/storage/db.ts';
import { generateRsaKeyPair, issueCertificate, newSerial } from '../../server/trust/ca.ts';
import { certFingerprint } from '../../shared/cert.ts';

export interface Identity {
  host: string;
  key: string;
  cert: string;
  ca: string;
}

let sharedKey: { privateKeyPem: string; publicKeyPem: string } | undefined;

/**
 * Enrolls hosts directly (same row as server/trust/enrollment.ts), one shared key pair, one certificate each.
 * The server under test may run in this process, inside a transaction that spans awaits (its retention pass
 * starts one as `start()` resolves): a write here waiting on that lock with SQLite's busy timeout would block
 * the one thread that can commit it, for 5 s, then fail with SQLITE_BUSY. So the write does not wait inside
 * SQLite: a busy attempt yields to the event loop and is tried again.
 */
export async function enrollDirect(dir: string, hosts: string[]): Promise<Identity[]> {
  sharedKey ??= generateRsaKeyPair(2048);
  const ca = { keyPem: readFileSync(join(dir, 'ca.key'), 'utf8'), certPem: readFileSync(join(dir, 'ca.crt'), 'utf8') };
  const now = Date.now();
  const rows = hosts.map((host) => {
    const serial = newSerial();
    const cert = issueCertificate({ ca, publicKeyPem: sharedKey!.publicKeyPem, commonName: host, names: [host], usage: 'client', serial });
    return { id: { host, key: sharedKey!.privateKeyPem, cert, ca: ca.certPem }, serial, sha256: certFingerprint(cert) };
  });
  const db = openDatabase(join(dir, 'tripwarden.db'));
  try {
    db.pragma('busy_timeout = 0');
    const ins = db.prepare(`INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES (?, 'default', 'pending', ?, ?, ?, ?)`);
    const write = db.transaction(() => {
      for (const r of rows) ins.run(r.id.host, now, r.serial, r.sha256, now);
    });
    const giveUp = Date.now() + 30_000;
    for (;;) {
      try {
        write.immediate();
        return rows.map((r) => r.id);
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > giveUp) throw err;
        await sleep(2);
      }
    }
  } finally {
    db.close();
  }
}

/** Opens a mutual-TLS WebSocket with an identity; resolves when open, rejects on refusal. */
export function openWs(port: number, id: Pick<Identity, 'key' | 'cert' | 'ca'>, maxPayload = 64 * 1024): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/agent`, { key: id.key, cert: id.cert, ca: id.ca, handshakeTimeout: 5000, maxPayload, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`refused with ${res.statusCode}`)));
  });
}

/**
 * A well-behaved agent: hello, then a heartbeat every `everyMs`, declared
 * interval `intervalMs`; reconnects (same boot id, growing seq) when the
 * connection drops. Remembers the highest acknowledged seq.
 */
export class RawAgent {
  readonly bootId = randomUUID();
  seq = 1;
  maxAcked = 0;
  acks = 0;
  welcomes = 0;
  connects = 0;
  up = false;
  private ws?: WebSocket;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    readonly id: Identity,
    private readonly port: () => number,
    private readonly o: { everyMs: number; intervalMs: number },
  ) {}

  start(): this {
    this.connect();
    return this;
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(`wss://127.0.0.1:${this.port()}/agent`, { key: this.id.key, cert: this.id.cert, ca: this.id.ca, handshakeTimeout: 5000, perMessageDeflate: false });
    this.ws = ws;
    ws.on('open', () => {
      this.connects++;
      ws.send(
        JSON.stringify({
          type: 'hello',
          bootId: this.bootId,
          seq: this.seq++,
          sentAt: Date.now(),
          protocol: 1,
          agentVersion: 'fault-test',
          interval: this.o.intervalMs,
          facts: { hostname: this.id.host, os: 'linux', release: '6', arch: 'x64', runtime: 'test', uptimeSec: 1 },
        }),
      );
    });
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; seq?: number };
      if (m.type === 'welcome') {
        this.welcomes++;
        this.up = true;
        clearInterval(this.timer);
        this.timer = setInterval(() => this.beat(), this.o.everyMs);
      } else if (m.type === 'ack') {
        this.acks++;
        this.maxAcked = Math.max(this.maxAcked, m.seq ?? 0);
      }
    });
    ws.on('error', () => {});
    ws.on('unexpected-response', (_q, res) => {
      res.resume();
      ws.terminate();
    });
    ws.on('close', () => {
      this.up = false;
      clearInterval(this.timer);
      if (!this.stopped) setTimeout(() => this.connect(), 200);
    });
  }

  private beat(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    // Every beat asks for its ack: the suites count acks to see the server still serves this agent.
    this.ws.send(JSON.stringify({ type: 'heartbeat', bootId: this.bootId, seq: this.seq++, sentAt: Date.now(), wantAck: true }));
  }

  /** Drops the connection without a goodbye (as if the agent was killed). */
  kill(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws?.terminate();
  }

  stop(): void {
    this.kill();
  }
}

/** Writes (once) and returns the bearer token `/metrics` accepts. */
export function metricsToken(dir: string): string {
  const f = join(dir, 'metrics.token');
  try {
    const t = readFileSync(f, 'utf8').trim();
    if (t.length >= 16) return t;
  } catch {
    /* not yet */
  }
  const t = randomUUID() + randomUUID();
  writeFileSync(f, t, { mode: 0o600 });
  return t;
}

/** Scrapes `/metrics` from the dashboard port and returns `name{labels}` → value. */
export async function scrape(dashboardPort: number, token: string): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${dashboardPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Resident set size of a process in MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** True while a process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
