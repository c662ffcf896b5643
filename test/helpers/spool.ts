/**
 * Helpers for the spool tests: a server restarted on the port its agents
 * know, the ledger read from the real database, an agent's spool read from disk.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Proc, ROOT, type TestServer } from './cluster.ts';

/** Starts `serve` again on a given gateway port (the one the agents' configs name). */
export async function serveOn(init: { dir: string; fingerprint: string }, port: number, attempts = 20): Promise<Proc> {
  for (let i = 0; ; i++) {
    const p = new Proc(
      spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'serve', '--dir', init.dir, '--listen', `127.0.0.1:${port}`, '--dashboard', '127.0.0.1:0'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const r = await Promise.race([p.waitLog((o) => o.msg === 'serving', 20_000).then(() => 'up'), p.exited.then(() => 'exited')]);
    if (r === 'up') return p;
    if (i >= attempts) throw new Error(`serve did not start on port ${port}: ${p.lines.slice(-3).join(' | ')}`);
    await new Promise((res) => setTimeout(res, 250)); // the port may still be held for a moment
  }
}

export interface LedgerRow {
  id: number;
  n: number;
  hash: string;
  kind: string;
  body: string | null;
  origin_boot: string | null;
  received_boot: string;
}

/** The spool records the server stored for a host, in storage order. */
export function ledger(server: Pick<TestServer, 'dir'>, host: string): LedgerRow[] {
  const db = new Database(join(server.dir, 'tripwarden.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, n, hash, kind, body, origin_boot, received_boot FROM spool_records WHERE host = ? ORDER BY id').all(host) as LedgerRow[];
  } catch {
    return []; // the table may not exist yet
  } finally {
    db.close();
  }
}

/** How many records the server stored for a host (cheap, for polling). */
export function ledgerCount(server: Pick<TestServer, 'dir'>, host: string): number {
  const db = new Database(join(server.dir, 'tripwarden.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS c FROM spool_records WHERE host = ?').get(host) as { c: number }).c;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/** The server's chain position for a host. */
export function chainOf(server: Pick<TestServer, 'dir'>, host: string): { acked_n: number; announced_n: number } | undefined {
  const db = new Database(join(server.dir, 'tripwarden.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT acked_n, announced_n FROM spool_chains WHERE host = ?').get(host) as { acked_n: number; announced_n: number } | undefined;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** The agent's spool lines (header first) as parsed JSON. */
export function spoolLines(stateDir: string): Record<string, unknown>[] {
  const p = join(stateDir, 'spool.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { bad: l };
      }
    });
}

/** The agent's spool head (number and hash of its newest record). */
export function spoolHead(stateDir: string): { n: number; hash: string } {
  return JSON.parse(readFileSync(join(stateDir, 'spool.head'), 'utf8')) as { n: number; hash: string };
}

/** File paths named by the event records of a list of bodies. */
export function eventPaths(bodies: (string | null | Record<string, unknown>)[]): string[] {
  const out: string[] = [];
  for (const b of bodies) {
    const o = (typeof b === 'string' ? JSON.parse(b) : b) as { kind?: string; files?: { path: string }[] } | null;
    if (o?.kind === 'event') for (const f of o.files ?? []) out.push(f.path);
  }
  return out;
}
