import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';

export interface RawIdentity {
  key: string;
  cert: string;
  ca: string;
}

/** The key, certificate and CA an enrolled agent keeps in its state dir. */
export function identityOf(stateDir: string): RawIdentity {
  const r = (f: string) => readFileSync(join(stateDir, f), 'utf8');
  return { key: r('agent.key'), cert: r('agent.crt'), ca: r('ca.crt') };
}

export interface RawOutcome {
  opened: boolean;
  status?: number;
  error?: string;
  closeCode?: number;
  closeReason?: string;
  frames: unknown[];
}

/**
 * Connects to the gateway with whatever identity a test wants (none, another
 * CA's, expired), optionally sends frames once open, and reports what happened.
 */
export function rawConnect(port: number, o: { key?: string; cert?: string; ca: string; send?: (string | Buffer)[]; waitMs?: number }): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const out: RawOutcome = { opened: false, frames: [] };
    const ws = new WebSocket(`wss://127.0.0.1:${port}/agent`, {
      key: o.key,
      cert: o.cert,
      ca: o.ca,
      rejectUnauthorized: true,
      handshakeTimeout: 5000,
      maxPayload: 10 * 1024 * 1024,
    });
    const done = () => {
      clearTimeout(t);
      resolve(out);
    };
    const t = setTimeout(() => {
      ws.terminate();
      done();
    }, o.waitMs ?? 5000);
    ws.on('open', () => {
      out.opened = true;
      for (const f of o.send ?? []) ws.send(f);
    });
    ws.on('message', (d) => {
      try {
        out.frames.push(JSON.parse(d.toString()));
      } catch {
        out.frames.push(d.toString());
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      out.status = res.statusCode;
      ws.terminate();
    });
    ws.on('error', (e) => {
      out.error = e.message;
    });
    ws.on('close', (code, reason) => {
      out.closeCode = code;
      out.closeReason = reason.toString();
      done();
    });
  });
}
