/**
 * A scripted agent for the checker tests: a real mutual-TLS connection with an enrolled certificate that says
 * hello with its checkers, sends a report, collects the server's frames and sends spooled checker records
 * on a correct hash chain.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { CheckerDeclaration, CheckerOutputBody, CheckerResultBody, RunChecker } from '../../shared/checker-messages.ts';
import type { FileEntry } from '../../shared/protocol.ts';
import { GENESIS_HASH, recordHash } from '../../shared/spool-chain.ts';
import { type Identity, openWs } from '../faults/fault-kit.ts';
import { waitFor } from './wait.ts';

export class CheckerClient {
  readonly frames: { type: string; [k: string]: unknown }[] = [];
  private ws?: WebSocket;
  private bootId = randomUUID();
  private seq = 0;
  private n = 0;
  private prev = GENESIS_HASH;

  constructor(
    private readonly id: Identity,
    private readonly port: number,
  ) {}

  /** Connects with a new boot and says hello declaring `checkers`; resolves on `welcome`. */
  async connect(checkers: CheckerDeclaration[]): Promise<void> {
    this.bootId = randomUUID();
    this.seq = 0;
    const ws = await openWs(this.port, this.id);
    this.ws = ws;
    ws.on('message', (d) => this.frames.push(JSON.parse(String(d))));
    const head = this.n ? { spool: { n: this.n, hash: this.prev, pending: false } } : {};
    this.send({
      type: 'hello',
      protocol: 1,
      agentVersion: 'checker-test',
      interval: 60_000,
      facts: { hostname: this.id.host, os: 'linux', release: '6', arch: 'x64', runtime: 'test', uptimeSec: 1 },
      checkers,
      ...head,
    });
    const welcomes = this.frames.filter((f) => f.type === 'welcome').length;
    await waitFor(() => this.frames.filter((f) => f.type === 'welcome').length > welcomes, { what: 'welcome' });
  }

  send(m: Record<string, unknown>): void {
    this.ws!.send(JSON.stringify({ bootId: this.bootId, seq: this.seq++, sentAt: Date.now(), ...m }));
  }

  /** Sends a full report of these files (the first one becomes the baseline). */
  report(files: FileEntry[]): void {
    this.send({ type: 'report', reportId: randomUUID(), part: 0, last: true, files, daemons: [], mounts: [], ports: [] });
  }

  /** Sends one spooled record and waits for its `spool-ack`. */
  async record(body: CheckerOutputBody | CheckerResultBody): Promise<void> {
    const base = { n: ++this.n, prev: this.prev, origin: { bootId: this.bootId, seq: this.seq, at: Date.now() }, severity: 'critical' as const, body };
    const hash = recordHash(base);
    this.prev = hash;
    this.send({ type: 'record', record: { ...base, hash } });
    const n = this.n;
    await waitFor(() => this.frames.some((f) => f.type === 'spool-ack' && f.n === n), { what: `spool-ack ${n}` });
  }

  runs(): RunChecker[] {
    return this.frames.filter((f): f is RunChecker & { type: 'run-checker' } => f.type === 'run-checker');
  }

  close(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === ws.CLOSED) return Promise.resolve();
    return new Promise((res) => {
      ws.once('close', () => res());
      ws.terminate();
    });
  }
}
