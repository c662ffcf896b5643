/**
 * Real processes for end-to-end tests: a server data dir, `serve`, enrolled
 * agents and their daemons, each a child process on loopback.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import { openServerContext, type ServerContext } from '../../server/context.ts';
import { systemClock } from '../../shared/clock.ts';
import { tempDir } from './temp.ts';
import './exit-on-term.ts';
import { waitFor } from './wait.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const TSX = ['--import', 'tsx'];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a server CLI command to completion. */
export function serverCli(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [...TSX, join(ROOT, 'server/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The agent command: the compiled executable when `TRIPWARDEN_AGENT_EXE` names
 * one (so the e2e suite can run against `dist/tripwarden-agent`), else the TypeScript.
 */
export function agentCommand(): { cmd: string; args: string[] } {
  const exe = process.env.TRIPWARDEN_AGENT_EXE;
  return exe ? { cmd: exe, args: [] } : { cmd: process.execPath, args: [...TSX, join(ROOT, 'agent/main.ts')] };
}

/** Runs an agent CLI command to completion. */
export function agentCli(args: string[]): CliResult {
  const a = agentCommand();
  const r = spawnSync(a.cmd, [...a.args, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const children = new Set<ChildProcess>();
// Children die with the test process (node:test's `after` would fire early inside `before` hooks).
const killAll = () => {
  for (const c of children) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
};
process.on('exit', killAll);
// And when the file's tests end: a test that failed before killing its agent
// must not leave a child whose pipes keep the file running until its timeout.
after(killAll);

/** A child process whose stdout JSON log lines are kept. */
export class Proc {
  readonly lines: string[] = [];
  exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr?.on('data', (d: Buffer) => this.lines.push(...d.toString().split('\n').filter(Boolean)));
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
    children.add(child);
    child.on('exit', () => children.delete(child));
  }
  get pid(): number {
    return this.child.pid!;
  }
  /** The first JSON log line for which `pred` holds. */
  async waitLog(pred: (o: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    try {
      return await waitFor(
        () => {
          for (const l of this.lines) {
            try {
              const o = JSON.parse(l) as Record<string, unknown>;
              if (pred(o)) return o;
            } catch {
              /* not JSON */
            }
          }
          return undefined;
        },
        { timeoutMs, what: 'a log line' },
      );
    } catch (err) {
      // A timed-out wait in CI is only diagnosable from what the process said last.
      throw new Error(`${(err as Error).message}; ${this.describe()}`);
    }
  }
  /** The process's state and last log lines, for failure messages. */
  describe(n = 12): string {
    const state = this.child.exitCode !== null || this.child.signalCode !== null ? `exited (${this.child.exitCode ?? this.child.signalCode})` : 'running';
    return `pid ${this.child.pid} ${state}; last lines:\n${this.lines.slice(-n).join('\n')}`;
  }
  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
}

/**
 * Runs `fn`; when it throws, writes the whole log of each process in `procs` (by name) to a directory that
 * outlives the run, and rethrows with that directory and each process's last lines added: a failure that
 * shows under load in CI is diagnosed from both servers' logs, not from the assertion alone.
 */
export async function keepLogsOnFailure(procs: () => Record<string, Proc | undefined>, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const dir = mkdtempSync(join(tmpdir(), 'tw-failed-logs-'));
    const tails: string[] = [];
    for (const [name, p] of Object.entries(procs())) {
      if (!p) continue;
      writeFileSync(join(dir, `${name}.log`), `${p.lines.join('\n')}\n`);
      tails.push(`${name}: ${p.describe(20)}`);
    }
    const e = err as Error;
    // A failure shared by several tests (a failed hook's) is one object: its logs are named once.
    if (!e.message.includes('\nlogs kept in ')) e.message = `${e.message}\nlogs kept in ${dir}\n${tails.join('\n')}`;
    throw e;
  }
}

export interface TestServer {
  dir: string;
  fingerprint: string;
  url: string;
  port: number;
  dashboardPort: number;
  proc: Proc;
  /** A fresh read of the database (stores over the real SQLite file). */
  ctx(): ServerContext;
  stop(): Promise<void>;
}

/** Initialises a data dir; `grace` sets server.yml's grace (e.g. '1s' so deadlines come quickly). */
export function initServer(opts: { grace?: string } = {}): { dir: string; fingerprint: string } {
  const dir = join(tempDir('tw-srv-'), 'data');
  const r = serverCli(['init', '--dir', dir, '--listen', '127.0.0.1:7443']);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  const fingerprint = /ca-sha256: (\S+)/.exec(r.stdout)![1]!;
  if (opts.grace) {
    const cfg = join(dir, 'server.yml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grace: .*$/m, `grace: ${opts.grace}`));
  }
  return { dir, fingerprint };
}

/** Starts `serve` on ephemeral loopback ports and waits until it listens; `nodeArgs` go to its node (e.g. a preload). */
export async function startServer(init: { dir: string; fingerprint: string }, nodeArgs: string[] = []): Promise<TestServer> {
  const child = spawn(process.execPath, [...TSX, ...nodeArgs, join(ROOT, 'server/main.ts'), 'serve', '--dir', init.dir, '--listen', '127.0.0.1:0', '--dashboard', '127.0.0.1:0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new Proc(child);
  const line = await proc.waitLog((o) => o.msg === 'serving', 60_000);
  const port = Number(String(line.gateway).split(':').pop());
  const dashboardPort = Number(/:(\d+)\/$/.exec(String(line.dashboard))![1]);
  return {
    ...init,
    port,
    dashboardPort,
    url: `wss://127.0.0.1:${port}`,
    proc,
    ctx: () => {
      return openServerContext(init.dir, systemClock);
    },
    stop: async () => {
      proc.signal('SIGTERM');
      await proc.exited;
    },
  };
}

export interface TestAgent {
  host: string;
  config: string;
  stateDir: string;
}

/**
 * Issues a token and enrolls an agent with a config of short interval, for fast deadlines.
 * Listening ports are reported only with `ports: true`: the test machine's sockets come and
 * go with every test running beside this one, and would open `port-opened` alarms anywhere.
 */
export function enrollAgent(server: TestServer, host: string, cfg: { interval?: string; jitter?: string; extra?: string; ports?: boolean } = {}): TestAgent {
  const tok = serverCli(['token', host, '--dir', server.dir]);
  if (tok.code !== 0) throw new Error(`token failed: ${tok.stderr}`);
  const dir = tempDir('tw-agent-');
  const config = join(dir, 'agent.yml');
  const stateDir = join(dir, 'state');
  writeFileSync(
    config,
    `server: ${server.url}\nstateDir: ${stateDir}\ninterval: ${cfg.interval ?? '1s'}\njitter: ${cfg.jitter ?? '100ms'}\ndefaults: false\nports: ${cfg.ports ? 'true' : 'false'}\n${cfg.extra?.includes('fallback:') ? '' : 'fallback: []\n'}${cfg.extra ?? ''}`,
  );
  const r = agentCli(['enroll', '--server', server.url, '--token', tok.stdout.trim(), '--ca-sha256', server.fingerprint, '--config', config]);
  if (r.code !== 0) throw new Error(`enroll failed: ${r.stderr}`);
  return { host, config, stateDir };
}

/** Starts `agent run` as its own process. */
export function runAgent(agent: TestAgent): Proc {
  const a = agentCommand();
  return new Proc(spawn(a.cmd, [...a.args, 'run', '--config', agent.config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The host's status as `hosts --json` derives it, read from the real database. */
export async function hostStatus(server: TestServer, host: string): Promise<string | undefined> {
  const c = server.ctx();
  try {
    return (await c.hosts.views(Date.now())).find((h) => h.host === host)?.status;
  } finally {
    await c.close();
  }
}

/** Open alarms of a host, as `alarms --open --json` lists them. */
export async function openAlarms(server: TestServer, host: string) {
  const c = server.ctx();
  try {
    return await c.alarms.list({ open: true, host });
  } finally {
    await c.close();
  }
}

/** Waits until the server holds the host's baseline (taken from the agent's first full report). */
export function waitForBaseline(server: TestServer, host: string, timeoutMs = 30_000): Promise<unknown> {
  return waitFor(
    async () => {
      const c = server.ctx();
      try {
        return await c.sql.get('SELECT 1 FROM baseline_hosts WHERE host = ?', [host]);
      } finally {
        await c.close();
      }
    },
    { timeoutMs, what: `${host} baseline taken` },
  );
}
