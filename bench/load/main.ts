/**
 * The load benchmark: a real `serve` (or the raw-ws reference) on loopback, N simulated agents in separate worker
 * processes (clients.ts), the server process measured from /proc, then restarted to time the reconnect storm, and
 * false alarms counted. Options: {@link HELP}.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ACK_EVERY } from '../../agent/link/agent-link.ts';
import type { WorkerConfig, WorkerReport } from './clients.ts';
import { makeFleet, prepareTemplate, ROOT } from './fleet.ts';
import { runInstancesBench } from './pg-instances.ts';
import { cpuSeconds, fdCount, machineCpu, percentile, rssMiB } from './proc-stats.ts';
import { type ServerFrom, serverMain, spawnServing } from './serve-proc.ts';

const HELP = `\`npm run bench:load -- [options]\`: the load benchmark. Starts a
real \`serve\` (or the raw-ws reference) on loopback, N simulated agents in
separate worker processes (clients.ts), measures the server process from
/proc, restarts it to time the reconnect storm, and counts false alarms.

Options: --agents N (1000) --warmup S (20) --duration S (60) --after S (30)
--restart term|kill|none (kill) --server ours|reference (ours)
--from dist|source (dist: the built server the packages ship; source: server/main.ts through tsx) --jitless
(Node's --jitless, as the packaged systemd unit runs it; the reference too). Profiles of dist have minified
names: profile with --from source
--mode steady|flood (steady) --workers K (N/4000) --interval MS (10000)
--jitter MS (2000) --events R (10: spooled file-change events a second over
the whole fleet; 0 for heartbeats only, as rounds 1-4 ran) --ack-every K
(the agent's ACK_EVERY: every K-th heartbeat asks for an ack; 1 as rounds
1-5 ran) --no-resume
--cpu-prof --sources K (source addresses, 127.0.0.2..)
--work DIR (/tmp/tw-bench-load) --json FILE
--database sqlite|postgres (sqlite) --instances K (1): with postgres, K instances on one PostgreSQL
database beside one on SQLite in the same run, and the kill of one of them (pg-instances.ts)`;

/** A bad option: one line on stderr, exit 2 (no stack trace). */
function usageError(message: string): never {
  console.error(`bench:load: ${message} (npm run bench:load -- --help lists the options)`);
  process.exit(2);
}

const { values: a } = (() => {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', default: false },
        agents: { type: 'string', default: '1000' },
        warmup: { type: 'string', default: '20' },
        duration: { type: 'string', default: '60' },
        after: { type: 'string', default: '30' },
        restart: { type: 'string', default: 'kill' },
        server: { type: 'string', default: 'ours' },
        mode: { type: 'string', default: 'steady' },
        workers: { type: 'string' },
        interval: { type: 'string', default: '10000' },
        jitter: { type: 'string', default: '2000' },
        events: { type: 'string', default: '10' },
        'ack-every': { type: 'string', default: String(ACK_EVERY) },
        'no-resume': { type: 'boolean', default: false },
        'cpu-prof': { type: 'boolean', default: false },
        sources: { type: 'string' },
        work: { type: 'string', default: '/tmp/tw-bench-load' },
        json: { type: 'string' },
        database: { type: 'string', default: 'sqlite' },
        instances: { type: 'string', default: '1' },
        from: { type: 'string', default: 'dist' },
        jitless: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    usageError((err as Error).message);
  }
})();
if (a.help) {
  console.log(HELP);
  process.exit(0);
}

if (a.database !== 'sqlite' && a.database !== 'postgres') usageError(`--database must be sqlite or postgres (got ${a.database})`);
if (a.from !== 'dist' && a.from !== 'source') usageError(`--from must be dist or source (got ${a.from})`);
const from = a.from as ServerFrom;
if (a.database === 'sqlite' && a.instances !== '1') usageError('--instances above 1 needs --database postgres');
const N = Number(a.agents);
const intervalMs = Number(a.interval);
const eventsPerSec = Number(a.events);
if (!Number.isFinite(eventsPerSec) || eventsPerSec < 0) usageError(`--events must be a number of events a second, 0 or more (got ${a.events})`);
const ackEvery = Number(a['ack-every']);
if (!Number.isInteger(ackEvery) || ackEvery < 0) usageError(`--ack-every must be a whole number of heartbeats, 0 for never (got ${a['ack-every']})`);
const workers = Number(a.workers ?? Math.max(1, Math.ceil(N / 4000)));
// Each source address has its own ~28k ephemeral ports (ip_local_port_range); keep well under.
const sources = Number(a.sources ?? Math.max(1, Math.ceil(N / 20000)));
const log = (s: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

interface Srv {
  proc: ChildProcess;
  pid: number;
  startedAt: number;
  servingAt: number;
}

async function startServer(dir: string, port: number, runDir: string, n: number): Promise<Srv> {
  const prof = a['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(runDir, 'profile')}`] : [];
  const args =
    a.server === 'reference'
      ? [...prof, ...(a.jitless ? ['--jitless'] : []), '--import', 'tsx', join(ROOT, 'bench/reference/echo-server.ts'), '--dir', dir, '--port', String(port)]
      : [...prof, ...serverMain(from, a.jitless!), 'serve', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--dashboard', '127.0.0.1:0'];
  const startedAt = Date.now();
  const { proc, servingAt } = await spawnServing(args, join(runDir, `server-${n}.log`));
  return { proc, pid: proc.pid!, startedAt, servingAt };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const template = join(a.work!, 'template');
  const runDir = join(a.work!, `run-${a.server}-${N}`);
  const port = await freePort();
  prepareTemplate(template, N, port, log);
  const fleet = makeFleet(template, runDir, N);
  log(`fleet of ${N} agents in ${fleet.dir}; ${workers} worker(s), ${sources} source address(es), server ${a.server}, port ${port}`);

  let srv = await startServer(fleet.dir, port, runDir, 1);
  log(`server pid ${srv.pid} serving after ${srv.startedAt ? srv.servingAt - srv.startedAt : 0} ms`);

  const per = Math.ceil(N / workers);
  const reports = new Map<number, WorkerReport>();
  let lat: { at: number; v: number }[] = [];
  let evLat: { at: number; v: number }[] = [];
  const allUp: { worker: number; at: number }[] = [];
  const kids: ChildProcess[] = [];
  const benchStart = Date.now();
  for (let w = 0; w < workers; w++) {
    const from = w * per;
    const to = Math.min(N, from + per);
    const localAddresses = Array.from({ length: sources }, (_, i) => `127.0.0.${2 + ((w * sources + i) % 250)}`);
    const cfg: WorkerConfig = {
      port,
      agentsFile: join(template, 'agents.jsonl'),
      from,
      to,
      keyFile: join(template, 'agent.key'),
      caFile: join(fleet.dir, 'ca.crt'),
      intervalMs,
      jitterMs: Number(a.jitter),
      localAddresses,
      mode: a.mode as WorkerConfig['mode'],
      resume: !a['no-resume'],
      rampMs: Math.max(2000, N * 2),
      eventsPerSec: (eventsPerSec * (to - from)) / N,
      ackEvery,
    };
    const k = fork(join(ROOT, 'bench/load/clients.ts'), [JSON.stringify(cfg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    k.on('message', (m: WorkerReport | { type: 'all-up'; at: number }) => {
      if (m.type === 'report') {
        reports.set(w, m);
        for (const v of m.lat) lat.push({ at: m.at, v });
        for (const v of m.evLat) evLat.push({ at: m.at, v });
      } else allUp.push({ worker: w, at: m.at });
    });
    kids.push(k);
  }
  const sum = (f: (r: WorkerReport) => number) => [...reports.values()].reduce((s, r) => s + f(r), 0);
  const upCount = () => sum((r) => r.up);
  const errorKindsNow = () => {
    const out: Record<string, number> = {};
    for (const r of reports.values()) for (const [k, v] of Object.entries(r.errorKinds)) out[k] = (out[k] ?? 0) + v;
    return out;
  };

  // Initial connect: every agent does a full handshake.
  const t0 = Date.now();
  while (allUp.length < workers) {
    await sleep(500);
    if (Date.now() - t0 > 600_000) throw new Error(`only ${upCount()} of ${N} agents up after 10 minutes`);
  }
  const initialUpS = (Math.max(...allUp.map((x) => x.at)) - t0) / 1000;
  log(`all ${N} up after ${initialUpS.toFixed(1)} s (full handshakes: ${sum((r) => r.full)})`);

  await sleep(Number(a.warmup) * 1000);
  // Steady state window.
  const c0 = cpuSeconds(srv.pid);
  const g0 = kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0);
  const m0 = machineCpu();
  const w0 = Date.now();
  const acks0 = sum((r) => r.acks);
  const beats0 = sum((r) => r.sent);
  const ev0 = { sent: sum((r) => r.events), acked: sum((r) => r.eventAcks) };
  let rssMax = 0;
  lat = [];
  evLat = [];
  const durMs = Number(a.duration) * 1000;
  while (Date.now() - w0 < durMs) {
    await sleep(1000);
    rssMax = Math.max(rssMax, rssMiB(srv.pid));
  }
  const w1 = Date.now();
  const c1 = cpuSeconds(srv.pid);
  const g1 = kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0);
  const m1 = machineCpu();
  await sleep(1100); // the last report of the window
  const acks1 = sum((r) => r.acks);
  const beats1 = sum((r) => r.sent);
  // Latencies reported during the window (and its last report), sorted.
  const inWindow = (xs: { at: number; v: number }[]) =>
    xs
      .filter((x) => x.at > w0 && x.at <= w1 + 1000)
      .map((x) => x.v)
      .sort((x, y) => x - y);
  const winLat = inWindow(lat);
  const winEvLat = inWindow(evLat);
  const winS = (w1 - w0) / 1000;
  const steady = {
    seconds: winS,
    // Where the window lies in the first server's CPU profile (--cpu-prof), seconds after its spawn.
    profileWindowS: [(w0 - srv.startedAt) / 1000, (w1 - srv.startedAt) / 1000],
    cpuPctOfOneCore: (100 * (c1 - c0)) / winS,
    rssMiB: rssMiB(srv.pid),
    rssMaxMiB: rssMax,
    fds: fdCount(srv.pid),
    heartbeatsPerSec: (beats1 - beats0) / winS,
    acksPerSec: (acks1 - acks0) / winS,
    // Per heartbeat received (rounds 1-5 acked each, so this was per acked heartbeat there).
    cpuMsPer1000Frames: (1000 * 1000 * (c1 - c0)) / Math.max(1, beats1 - beats0),
    latencyMs: { n: winLat.length, p50: percentile(winLat, 50), p99: percentile(winLat, 99), p999: percentile(winLat, 99.9), max: winLat[winLat.length - 1] },
    // Events: record sent → spool-ack received (the server acks after the record's commit and judgement).
    events: {
      sentPerSec: (sum((r) => r.events) - ev0.sent) / winS,
      ackedPerSec: (sum((r) => r.eventAcks) - ev0.acked) / winS,
      latencyMs: { n: winEvLat.length, p50: percentile(winEvLat, 50), p99: percentile(winEvLat, 99), max: winEvLat[winEvLat.length - 1] },
    },
    generatorRssMiB: sum((r) => r.rssMb),
    generatorCpuPctOfOneCore: (100 * (g1 - g0)) / winS,
    // Everything on the machine (other sessions' tests share it), in % of one core, of the 2 cores' 200 %.
    machineBusyPctOfOneCore: (200 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  log(`steady: ${JSON.stringify(steady)}`);

  // The reconnect storm.
  let storm: Record<string, unknown> | null = null;
  if (a.restart !== 'none') {
    const full0 = sum((r) => r.full);
    const res0 = sum((r) => r.resumed);
    const upBefore = allUp.length;
    const exited = new Promise((r) => srv.proc.once('exit', r));
    const killedAt = Date.now();
    srv.proc.kill(a.restart === 'term' ? 'SIGTERM' : 'SIGKILL');
    await exited;
    const downAt = Date.now();
    // What else used the machine while the new server started: the simulated fleet retrying shares its cores.
    const gS0 = kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0);
    const mS0 = machineCpu();
    srv = await startServer(fleet.dir, port, runDir, 2);
    const cS = cpuSeconds(srv.pid);
    const startS = (srv.servingAt - srv.startedAt) / 1000;
    const startLoad = {
      serverCpuS: cS,
      generatorCpuPctOfOneCore: (100 * (kids.reduce((s, k) => s + cpuSeconds(k.pid!), 0) - gS0)) / Math.max(0.001, startS),
      machineBusyPctOfOneCore: (() => {
        const m = machineCpu();
        return (200 * (m.busy - mS0.busy)) / Math.max(1, m.total - mS0.total);
      })(),
    };
    log(`restarted (${a.restart}): stop took ${downAt - killedAt} ms, new server serving ${srv.servingAt - srv.startedAt} ms after spawn`);
    const tS = Date.now();
    // A second by second record of the storm: agents up, connection errors by kind, the new server's CPU.
    const timeline: { s: number; up: number; cpuS: number; errors: Record<string, number> }[] = [];
    const kinds0 = errorKindsNow();
    let nextSample = tS;
    while (allUp.length < upBefore + workers) {
      await sleep(100);
      if (Date.now() >= nextSample) {
        nextSample += 1000;
        const k = errorKindsNow();
        const errors = Object.fromEntries(
          Object.entries(k)
            .map(([n, v]) => [n, v - (kinds0[n] ?? 0)])
            .filter(([, v]) => (v as number) > 0),
        );
        timeline.push({ s: Math.round((Date.now() - killedAt) / 100) / 10, up: upCount(), cpuS: Math.round((cpuSeconds(srv.pid) - cS) * 100) / 100, errors });
      }
      if (Date.now() - tS > 300_000) break;
    }
    const back = allUp.slice(upBefore);
    const lastUp = back.length === workers ? Math.max(...back.map((x) => x.at)) : NaN;
    await sleep(1100);
    const stormCpu = cpuSeconds(srv.pid) - cS;
    storm = {
      signal: a.restart,
      allUpAfterSpawnS: (lastUp - srv.startedAt) / 1000,
      allUpAfterServingS: (lastUp - srv.servingAt) / 1000,
      allUpAfterKillS: (lastUp - killedAt) / 1000,
      serverStartMs: srv.servingAt - srv.startedAt,
      // The start's own CPU, and the generator's and the machine's rate meanwhile.
      startLoad,
      serverCpuSecondsUntilAllUp: stormCpu,
      // The storm's own CPU a reconnect: the steady window's rate (heartbeats of agents already back) taken out.
      cpuMsPerReconnect: (1000 * (stormCpu - (steady.cpuPctOfOneCore / 100) * ((Date.now() - srv.servingAt) / 1000))) / N,
      fullHandshakes: sum((r) => r.full) - full0,
      resumedHandshakes: sum((r) => r.resumed) - res0,
      timeline,
    };
    log(`storm: ${JSON.stringify(storm)}`);
    // The database agrees: every agent is `up`.
    const db = new Database(join(fleet.dir, 'tripwarden.db'), { readonly: true });
    storm.dbUp = (db.prepare(`SELECT COUNT(*) n FROM hosts WHERE status = 'up'`).get() as { n: number }).n;
    db.close();
  }

  // Keep running a while (deadlines of every agent pass at least once) and count alarms. Events stop 2 s
  // before the count, so every one sent has had its ack and its worker's report.
  await sleep(Math.max(0, Number(a.after) * 1000 - 2000));
  for (const k of kids) k.send({ cmd: 'stop-events' });
  await sleep(2000);
  const db = new Database(join(fleet.dir, 'tripwarden.db'), { readonly: true });
  const alarms = db.prepare(`SELECT kind, COUNT(*) n FROM alarms WHERE opened_at >= ? GROUP BY kind`).all(benchStart) as { kind: string; n: number }[];
  const notUp = (db.prepare(`SELECT COUNT(*) n FROM hosts WHERE status != 'up'`).get() as { n: number }).n;
  // Every event sent was stored exactly once (the ledger is unique on the record hash), none lost to the kill.
  const eventsStored = a.server === 'ours' ? (db.prepare(`SELECT COUNT(*) n FROM spool_records`).get() as { n: number }).n : null;
  db.close();
  const eventsSent = sum((r) => r.events);
  const eventsUnacked = eventsSent - sum((r) => r.eventAcks);
  const result = {
    date: new Date().toISOString(),
    agents: N,
    server: a.server,
    from: a.server === 'ours' ? from : 'source',
    jitless: a.jitless,
    mode: a.mode,
    workers,
    sources,
    intervalMs,
    jitterMs: Number(a.jitter),
    resume: !a['no-resume'],
    eventsPerSecSet: eventsPerSec,
    ackEvery,
    initialAllUpS: initialUpS,
    steady,
    storm,
    events: { sent: eventsSent, stored: eventsStored, unackedAtEnd: eventsUnacked },
    alarms: Object.fromEntries(alarms.map((r) => [r.kind, r.n])),
    falseAgentMissing: alarms.find((r) => r.kind === 'agent-missing')?.n ?? 0,
    hostsNotUpAtEnd: notUp,
  };
  for (const k of kids) k.send({ cmd: 'exit' });
  srv.proc.kill('SIGTERM');
  await new Promise((r) => srv.proc.once('exit', r));
  if (a['cpu-prof']) {
    const dir = join(runDir, 'profile');
    (result as Record<string, unknown>).profiles = readdirSync(dir).map((f) => join(dir, f));
  }
  const json = JSON.stringify(result, null, 2);
  writeFileSync(a.json ?? join(runDir, 'result.json'), `${json}\n`);
  console.log(json);
}

mkdirSync(a.work!, { recursive: true });
const run =
  a.database === 'postgres'
    ? () =>
        runInstancesBench({
          agents: N,
          instances: Number(a.instances),
          warmupS: Number(a.warmup),
          durationS: Number(a.duration),
          afterS: Number(a.after),
          workers,
          sources,
          intervalMs,
          jitterMs: Number(a.jitter),
          eventsPerSec,
          ackEvery,
          work: a.work!,
          json: a.json,
          serverMain: serverMain(from, a.jitless!),
        })
    : main;
run().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
