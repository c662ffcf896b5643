/**
 * A throwaway PostgreSQL cluster of the test's own, in a temp dir: a test may restart, stop and start it
 * without touching the shared dev cluster or the one CI runs the suite under. initdb and pg_ctl refuse to run
 * as root: as root they run as the `postgres` user, on a dir owned by it. Trust auth on 127.0.0.1 and on a
 * unix socket in the temp dir, on a free port.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import './exit-on-term.ts';

/** The newest installed server's binaries (Debian: /usr/lib/postgresql/N/bin), or null. */
function findBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  return null;
}

const BIN = findBin();
const ROOT_USER = process.getuid?.() === 0;
const PG_UID = ROOT_USER ? uidOf('postgres') : null;

/** Why tests on an own cluster are skipped, or null when they run. */
export const PG_CLUSTER_SKIP: string | null = !BIN
  ? 'no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)'
  : ROOT_USER && PG_UID === null
    ? 'running as root and no postgres user to run initdb as'
    : null;

function uidOf(user: string): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return null;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** A command line as the postgres user when we are root. */
function asOwner(cmd: string, args: string[]): [string, string[]] {
  return ROOT_USER ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const [c, a] = asOwner(cmd, args);
  return new Promise((resolve, reject) => {
    execFile(c, a, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args[0]} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A port nothing listens on now (bound on 0, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Seconds pg_ctl waits for a start or stop before it fails. */
const PG_CTL_WAIT_S = 30;

/** A running cluster of this test's own. */
export class PgCluster {
  private running = true;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    // Whatever happens to the test, the postmaster must not outlive it.
    process.once('exit', () => this.closeSync());
  }

  /** initdb (trust auth) and start on a free port; rejects with initdb's or pg_ctl's output. */
  static async create(): Promise<PgCluster> {
    if (PG_CLUSTER_SKIP) throw new Error(PG_CLUSTER_SKIP);
    const dir = mkdtempSync(join(tmpdir(), 'tw-pg-'));
    if (PG_UID) chownSync(dir, PG_UID.uid, PG_UID.gid);
    const port = await freePort();
    const c = new PgCluster(dir, port);
    try {
      await run(join(BIN!, 'initdb'), ['-D', c.data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], 120_000);
      await c.start();
      await c.admin('CREATE DATABASE tw');
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  /** The URL of database `name` (default `tw`, made at create) over TCP on loopback. */
  url(name = 'tw'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  /** Starts the postmaster and waits until it accepts connections. */
  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    await run(join(BIN!, 'pg_ctl'), ['start', '-D', this.data, '-l', join(this.dir, 'log'), '-w', '-t', String(PG_CTL_WAIT_S), '-o', opts], (PG_CTL_WAIT_S + 5) * 1000);
    this.running = true;
  }

  /** Stops it (fast: open transactions are rolled back, sessions ended) and waits until it is down. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await run(join(BIN!, 'pg_ctl'), ['stop', '-D', this.data, '-m', mode, '-w', '-t', String(PG_CTL_WAIT_S)], (PG_CTL_WAIT_S + 5) * 1000);
    this.running = false;
  }

  /** `pg_ctl restart -m fast`: every session is ended; back once it accepts connections. */
  async restart(): Promise<void> {
    await run(join(BIN!, 'pg_ctl'), ['restart', '-D', this.data, '-m', 'fast', '-l', join(this.dir, 'log'), '-w', '-t', String(PG_CTL_WAIT_S)], (PG_CTL_WAIT_S + 5) * 1000);
    this.running = true;
  }

  /** Runs one statement on the `postgres` database. */
  async admin(text: string): Promise<void> {
    const c = new pg.Client({ connectionString: this.url('postgres') });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops it at once (immediate) and removes the dir; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.running) await this.stop('immediate').catch(() => {});
    this.closeSync();
  }

  private closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.running && existsSync(join(this.data, 'postmaster.pid'))) {
      const [c, a] = asOwner(join(BIN!, 'pg_ctl'), ['stop', '-D', this.data, '-m', 'immediate', '-w', '-t', '10']);
      spawnSync(c, a, { stdio: 'ignore', timeout: 15_000 });
    }
    this.running = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
