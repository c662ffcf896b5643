/**
 * `npm run bench:load -- --database postgres --instances K`: K `serve` instances on one PostgreSQL database
 * beside one instance on its SQLite file, in the same run (SQLite first, then PostgreSQL, the same fleet
 * and generator settings). For each: heartbeat latency and the CPU of each server process (and of
 * PostgreSQL: its postmaster's process tree) over a steady window. With K > 1 the instance that half the
 * fleet lists first is then killed (kill -9): the time until every agent is `up` and connected on a
 * survivor, read from the database the servers write, and the alarms opened since the start (expected:
 * one `server-instance-down`, nothing else).
 *
 * PostgreSQL runs in a throwaway cluster (`pg_createcluster`, trust auth on loopback), dropped at the end
 * even when the run fails: the figures are not skewed by other users of a shared one.
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PG_MIGRATIONS } from '../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../server/storage/open-db.ts';
import type { WorkerConfig, WorkerReport } from './clients.ts';
import { type Fleet, makeFleet, prepareTemplate, ROOT } from './fleet.ts';
import { CLK_TCK, cpuSeconds, machineCpu, percentile } from './proc-stats.ts';
import { spawnServing } from './serve-proc.ts';

/** The options of this mode, as main.ts parsed them. */
export interface InstancesOptions {
  agents: number;
  instances: number;
  warmupS: number;
  durationS: number;
  afterS: number;
  workers: number;
  sources: number;
  intervalMs: number;
  jitterMs: number;
  eventsPerSec: number;
  ackEvery: number;
  work: string;
  json?: string;
  /** Node's arguments that run the server's command line (serve-proc.ts's serverMain). */
  serverMain: string[];
}

const PG_VERSION = '15';
const CLUSTER = 'twbench';
const log = (s: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every server and worker process of this run, stopped when the run is interrupted. */
const children = new Set<ChildProcess>();
const track = (p: ChildProcess) => {
  children.add(p);
  p.once('exit', () => children.delete(p));
  return p;
};

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** The fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * CPU seconds of a process tree one level deep (PostgreSQL's postmaster and its backends and workers): the
 * root's own time and that of the children it has reaped, plus each live child's.
 */
export function treeCpuSeconds(root: number): number {
  const r = statFields(root);
  if (!r) return NaN;
  let ticks = Number(r[11]) + Number(r[12]) + Number(r[13]) + Number(r[14]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(Number(d));
    if (f && Number(f[1]) === root) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

/** A PostgreSQL cluster of this run only, trust auth on loopback. */
class ThrowawayCluster {
  private constructor(readonly port: number) {}

  static async create(): Promise<ThrowawayCluster> {
    ThrowawayCluster.drop(); // a run killed before its cleanup left it behind
    const port = await freePort();
    const r = spawnSync('pg_createcluster', [PG_VERSION, CLUSTER, '-p', String(port), '--start', '--', '--auth=trust'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pg_createcluster failed: ${r.stderr || r.stdout}`);
    const c = new ThrowawayCluster(port);
    const admin = new pg.Client({ connectionString: c.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE tripwarden');
    await admin.end();
    return c;
  }

  static drop(): void {
    spawnSync('pg_dropcluster', ['--stop', PG_VERSION, CLUSTER], { encoding: 'utf8' });
  }

  url(db = 'tripwarden'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }

  postmasterPid(): number {
    return Number(readFileSync(`/var/lib/postgresql/${PG_VERSION}/${CLUSTER}/postmaster.pid`, 'utf8').split('\n')[0]);
  }
}

interface Instance {
  name: string;
  dir: string;
  port: number;
  proc?: ChildProcess;
  pid?: number;
}

async function startServer(inst: Instance, runDir: string, main: string[]): Promise<void> {
  const args = [...main, 'serve', '--dir', inst.dir, '--listen', `127.0.0.1:${inst.port}`, '--dashboard', '127.0.0.1:0'];
  const { proc } = await spawnServing(args, join(runDir, `server-${inst.name}.log`), track);
  inst.proc = proc;
  inst.pid = proc.pid!;
}

/** What the servers wrote: how many hosts are `up` and connected (on one instance), and the alarms opened. */
interface StatusReader {
  upConnected(instance?: string): Promise<number>;
  alarmsSince(t: number): Promise<Record<string, number>>;
  close(): Promise<void>;
}

function sqliteReader(file: string): StatusReader {
  const db = new Database(file, { readonly: true });
  return {
    upConnected: async (instance) =>
      (db.prepare(`SELECT COUNT(*) n FROM hosts WHERE status = 'up' AND connected = 1${instance ? ' AND instance = ?' : ''}`).get(...(instance ? [instance] : [])) as { n: number })
        .n,
    alarmsSince: async (t) =>
      Object.fromEntries((db.prepare('SELECT kind, COUNT(*) n FROM alarms WHERE opened_at >= ? GROUP BY kind').all(t) as { kind: string; n: number }[]).map((r) => [r.kind, r.n])),
    close: async () => void db.close(),
  };
}

function pgReader(url: string): StatusReader {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  return {
    upConnected: async (instance) =>
      Number((await pool.query(`SELECT COUNT(*) n FROM hosts WHERE status = 'up' AND connected = 1${instance ? ' AND instance = $1' : ''}`, instance ? [instance] : [])).rows[0].n),
    alarmsSince: async (t) =>
      Object.fromEntries((await pool.query('SELECT kind, COUNT(*) n FROM alarms WHERE opened_at >= $1 GROUP BY kind', [t])).rows.map((r) => [r.kind, Number(r.n)])),
    close: () => pool.end(),
  };
}

/** The fleet's hosts in the PostgreSQL database, as makeFleet puts them in the SQLite file (the schema migrated first). */
async function enrollInPostgres(url: string, fleet: Fleet): Promise<void> {
  const sql = openSqlDb(url, PG_MIGRATIONS);
  await sql.ready();
  const now = Date.now();
  await sql.tx(async (tx) => {
    for (let i = 0; i < fleet.agents.length; i += 500) {
      const part = fleet.agents.slice(i, i + 500);
      const params = part.flatMap((a) => [a.host, 'load', now, a.serial, a.sha256, now]);
      await tx.run(
        `INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES ${part.map(() => `(?, ?, 'pending', ?, ?, ?, ?)`).join(', ')}`,
        params,
      );
    }
  });
  await sql.close();
}

/** One engine's scenario: its instances started, the fleet connected to them, the steady window, the kill. */
async function scenario(label: string, instances: Instance[], fleet: Fleet, runDir: string, status: StatusReader, pgPid: number | null, o: InstancesOptions) {
  const N = o.agents;
  const benchStart = Date.now();
  for (const inst of instances) await startServer(inst, runDir, o.serverMain);
  log(`${label}: ${instances.map((i) => `${i.name} pid ${i.pid} port ${i.port}`).join(', ')}${pgPid ? `, postmaster ${pgPid}` : ''}`);

  const per = Math.ceil(N / o.workers);
  const reports = new Map<number, WorkerReport>();
  let lat: { at: number; v: number }[] = [];
  const allUp: { worker: number; at: number }[] = [];
  const kids: ChildProcess[] = [];
  for (let w = 0; w < o.workers; w++) {
    const from = w * per;
    const to = Math.min(N, from + per);
    const cfg: WorkerConfig = {
      port: instances[0]!.port,
      ports: instances.map((i) => i.port),
      agentsFile: join(o.work, 'template', 'agents.jsonl'),
      from,
      to,
      keyFile: join(o.work, 'template', 'agent.key'),
      caFile: join(fleet.dir, 'ca.crt'),
      intervalMs: o.intervalMs,
      jitterMs: o.jitterMs,
      localAddresses: Array.from({ length: o.sources }, (_, i) => `127.0.0.${2 + ((w * o.sources + i) % 250)}`),
      mode: 'steady',
      resume: true,
      rampMs: Math.max(2000, N * 2),
      eventsPerSec: (o.eventsPerSec * (to - from)) / N,
      ackEvery: o.ackEvery,
    };
    const k = track(fork(join(ROOT, 'bench/load/clients.ts'), [JSON.stringify(cfg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    k.on('message', (m: WorkerReport | { type: 'all-up'; at: number }) => {
      if (m.type === 'report') {
        reports.set(w, m);
        for (const v of m.lat) lat.push({ at: m.at, v });
      } else allUp.push({ worker: w, at: m.at });
    });
    kids.push(k);
  }
  const sum = (f: (r: WorkerReport) => number) => [...reports.values()].reduce((s, r) => s + f(r), 0);
  try {
    const t0 = Date.now();
    // When the first agent was up, and half the fleet: a storm that stalls before any hello is stored shows here.
    let firstUpS: number | null = null;
    let halfUpS: number | null = null;
    for (let up = await status.upConnected(); up < N; up = await status.upConnected()) {
      if (up > 0) firstUpS ??= (Date.now() - t0) / 1000;
      if (up >= N / 2) halfUpS ??= (Date.now() - t0) / 1000;
      await sleep(500);
      if (Date.now() - t0 > 600_000) throw new Error(`${label}: only ${await status.upConnected()} of ${N} agents up after 10 minutes`);
    }
    const initialAllUpS = (Date.now() - t0) / 1000;
    log(`${label}: all ${N} up after ${initialAllUpS.toFixed(1)} s (the first after ${firstUpS ?? initialAllUpS} s, half after ${halfUpS ?? initialAllUpS} s)`);
    await sleep(o.warmupS * 1000);

    // The steady window.
    const servers = instances.map((i) => ({ name: i.name, pid: i.pid!, c0: cpuSeconds(i.pid!) }));
    const pg0 = pgPid ? treeCpuSeconds(pgPid) : 0;
    const g0 = kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0);
    const m0 = machineCpu();
    const beats0 = sum((r) => r.sent);
    const w0 = Date.now();
    lat = [];
    await sleep(o.durationS * 1000);
    const w1 = Date.now();
    const winS = (w1 - w0) / 1000;
    const serverCpu = Object.fromEntries(servers.map((s) => [s.name, (100 * (cpuSeconds(s.pid) - s.c0)) / winS]));
    const pgCpu = pgPid ? (100 * (treeCpuSeconds(pgPid) - pg0)) / winS : null;
    const g1 = kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0);
    const m1 = machineCpu();
    await sleep(1100); // the window's last report
    const winLat = lat
      .filter((x) => x.at > w0 && x.at <= w1 + 1000)
      .map((x) => x.v)
      .sort((x, y) => x - y);
    const steady = {
      seconds: winS,
      heartbeatsPerSec: (sum((r) => r.sent) - beats0) / winS,
      latencyMs: { n: winLat.length, p50: percentile(winLat, 50), p99: percentile(winLat, 99), max: winLat[winLat.length - 1] },
      serverCpuPctOfOneCore: serverCpu,
      postgresCpuPctOfOneCore: pgCpu,
      generatorCpuPctOfOneCore: (100 * (g1 - g0)) / winS,
      machineBusyPctOfOneCore: (200 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    };
    log(`${label} steady: ${JSON.stringify(steady)}`);

    // The kill: the first instance (the first entry of half the fleet's lists) goes; every agent must come up on the others.
    let failover: Record<string, unknown> | null = null;
    if (instances.length > 1) {
      const victim = instances[0]!;
      const survivors = instances.slice(1);
      const full0 = sum((r) => r.full);
      const res0 = sum((r) => r.resumed);
      const sc0 = survivors.map((s) => cpuSeconds(s.pid!));
      const p0 = pgPid ? treeCpuSeconds(pgPid) : 0;
      const heldBefore = await status.upConnected(victim.name);
      const exited = new Promise((r) => victim.proc!.once('exit', r));
      const killedAt = Date.now();
      victim.proc!.kill('SIGKILL');
      await exited;
      victim.proc = undefined;
      const onSurvivors = async () => {
        let n = 0;
        for (const s of survivors) n += await status.upConnected(s.name);
        return n;
      };
      let allUpAt = NaN;
      while (Date.now() - killedAt < 300_000) {
        if ((await onSurvivors()) === N) {
          allUpAt = Date.now();
          break;
        }
        await sleep(200);
      }
      failover = {
        killed: victim.name,
        agentsHeldByKilled: heldBefore,
        allUpOnSurvivorsAfterKillS: (allUpAt - killedAt) / 1000,
        survivorCpuSecondsUntilAllUp: survivors.map((s, i) => cpuSeconds(s.pid!) - sc0[i]!),
        postgresCpuSecondsUntilAllUp: pgPid ? treeCpuSeconds(pgPid) - p0 : null,
        fullHandshakes: sum((r) => r.full) - full0,
        resumedHandshakes: sum((r) => r.resumed) - res0,
        loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      };
      log(`${label} failover: ${JSON.stringify(failover)}`);
    }

    // Every agent's deadline (and the instance lease's timeout) passes at least once before the alarms are counted.
    await sleep(o.afterS * 1000);
    const alarms = await status.alarmsSince(benchStart);
    // Expected: the killed instance's, and those the simulated file changes raise (file-added, file-changed).
    const expected = (k: string) => (k === 'server-instance-down' && instances.length > 1) || (o.eventsPerSec > 0 && k.startsWith('file-'));
    const falseAlarms = Object.entries(alarms)
      .filter(([k]) => !expected(k))
      .reduce((s, [, n]) => s + n, 0);
    const result = {
      instances: instances.map((i) => i.name),
      initialAllUpS,
      firstUpS: firstUpS ?? initialAllUpS,
      halfUpS: halfUpS ?? initialAllUpS,
      steady,
      failover,
      alarms,
      falseAlarms,
      upConnectedAtEnd: await status.upConnected(),
    };
    log(`${label} result: ${JSON.stringify(result)}`);
    return result;
  } finally {
    for (const k of kids) k.send({ cmd: 'exit' });
    for (const i of instances) {
      if (!i.proc) continue;
      const gone = new Promise((r) => i.proc!.once('exit', r));
      i.proc.kill('SIGTERM');
      await gone;
    }
  }
}

/** The whole mode: SQLite with one instance, then PostgreSQL with `instances`, in one run; prints and writes the JSON. */
export async function runInstancesBench(o: InstancesOptions): Promise<void> {
  const template = join(o.work, 'template');
  prepareTemplate(template, o.agents, await freePort(), log);

  // SQLite, one instance: the reference of the same run.
  const sqliteDir = join(o.work, `run-sqlite1-${o.agents}`);
  const sf = makeFleet(template, sqliteDir, o.agents);
  const sqliteReaderNow = sqliteReader(join(sf.dir, 'tripwarden.db'));
  let sqlite: Awaited<ReturnType<typeof scenario>>;
  try {
    sqlite = await scenario('sqlite x1', [{ name: 'vm', dir: sf.dir, port: await freePort() }], sf, sqliteDir, sqliteReaderNow, null, o);
  } finally {
    await sqliteReaderNow.close();
  }

  // PostgreSQL, `instances` instances on one database of a throwaway cluster.
  const onSignal = () => {
    for (const p of children) p.kill('SIGKILL');
    ThrowawayCluster.drop();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cluster = await ThrowawayCluster.create();
  let postgres: Awaited<ReturnType<typeof scenario>>;
  try {
    const pgDir = join(o.work, `run-pg${o.instances}-${o.agents}`);
    const pf = makeFleet(template, pgDir, o.agents);
    const cfgFile = join(pf.dir, 'server.yml');
    writeFileSync(
      cfgFile,
      `${readFileSync(cfgFile, 'utf8')
        .replace(/^database: .*\n/m, '')
        .replace(/^instance: .*$/m, 'instance: i1')
        .replace(/\n?$/, '\n')}database: ${cluster.url()}\n`,
    );
    await enrollInPostgres(cluster.url(), pf);
    const instances: Instance[] = [{ name: 'i1', dir: pf.dir, port: await freePort() }];
    for (let k = 2; k <= o.instances; k++) {
      const inst: Instance = { name: `i${k}`, dir: join(pgDir, `data-i${k}`), port: await freePort() };
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'init', '--dir', inst.dir, '--join', pf.dir, '--instance', inst.name, '--listen', `127.0.0.1:${inst.port}`],
        { cwd: ROOT, encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`init --join failed: ${r.stderr}`);
      instances.push(inst);
    }
    const reader = pgReader(cluster.url());
    try {
      postgres = await scenario(`postgres x${o.instances}`, instances, pf, pgDir, reader, cluster.postmasterPid(), o);
    } finally {
      await reader.close();
    }
  } finally {
    ThrowawayCluster.drop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const result = {
    date: new Date().toISOString(),
    agents: o.agents,
    workers: o.workers,
    intervalMs: o.intervalMs,
    jitterMs: o.jitterMs,
    eventsPerSecSet: o.eventsPerSec,
    ackEvery: o.ackEvery,
    sqlite,
    postgres,
  };
  const json = JSON.stringify(result, null, 2);
  writeFileSync(o.json ?? join(o.work, `result-instances-${o.agents}.json`), `${json}\n`);
  console.log(json);
}
