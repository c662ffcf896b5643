/**
 * Full re-hash throughput: the files check's full scan (niced worker
 * threads, 1 MiB reads) against `openssl dgst -sha256` over the same files
 * in the same run, and against `aide --init` (sha256 only) on the same tree.
 * Page cache warm for every contender (each is run once before timing; best
 * of three is kept).
 *
 *   npm run bench -- rehash-throughput      (BENCH_GB=1 by default)
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesCheck } from '../agent/checks/files/files.ts';
import { AgentConfigSchema } from '../agent/config.ts';
import { HashPool } from '../agent/hashing/hash-pool.ts';
import { systemClock } from '../shared/clock.ts';
import { silentLogger } from '../shared/log.ts';
import type { FileEntry } from '../shared/protocol.ts';

const GB = Number(process.env.BENCH_GB ?? 1);
const FILE_MB = 4;

function makeTree(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const n = Math.round((GB * 1024) / FILE_MB);
  const buf = Buffer.alloc(FILE_MB << 20);
  for (let i = 0; i < n; i++) {
    randomFillSync(buf);
    const fd = openSync(join(dir, `blob-${String(i).padStart(4, '0')}`), 'w');
    writeSync(fd, buf);
    closeSync(fd);
  }
  return n * (FILE_MB << 20);
}

async function best(runs: number, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm the page cache and the code
  let b = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

async function scan(cfgWatch: object, workers: number): Promise<{ ms: number; entries: FileEntry[] }> {
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: '/nonexistent', daemons: [], ...cfgWatch });
  // Every worker from the start (growAfterMs 0): the rows compare pool sizes; the default starts its second
  // worker only once files waited 250 ms, which a 1 GiB scan does at once and the default set never does.
  const hasher = new HashPool({ workers, growAfterMs: 0 });
  const check = new FilesCheck({
    cfg,
    configPath: '/nonexistent/agent.yml',
    log: silentLogger(),
    clock: systemClock,
    hasher,
    watch: { primary: null, fast: null },
    selfPath: '/bin/true',
  });
  let entries: FileEntry[] = [];
  const ms = await best(3, async () => {
    entries = (await check.measure()).map((m) => m.value as FileEntry);
  });
  await hasher.close();
  return { ms, entries };
}

function openssl(files: string[]): number {
  const t0 = performance.now();
  const r = spawnSync('openssl', ['dgst', '-sha256', ...files], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error('openssl failed');
  return performance.now() - t0;
}

async function aide(dir: string, tmp: string, workers: number): Promise<number | string> {
  if (!existsSync('/usr/bin/aide')) return 'aide not installed (apt-get install -y aide)';
  const conf = join(tmp, `aide-${workers}.conf`);
  writeFileSync(conf, `database_out=file:${join(tmp, 'aide.db')}\ngzip_dbout=no\nTW = sha256\n${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} TW\n`);
  return best(2, () => {
    const r = spawnSync('aide', ['--init', `--config=${conf}`, `--workers=${workers}`], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`aide --init exited ${r.status}`);
  });
}

const mbps = (bytes: number, ms: number) => Math.round(bytes / (1 << 20) / (ms / 1000));

export async function rehashThroughput(): Promise<Record<string, unknown>> {
  const tmp = mkdtempSync(join(tmpdir(), 'tw-bench-hash-'));
  const dir = join(tmp, 'tree');
  const bytes = makeTree(dir);
  const out: Record<string, unknown> = { cores: availableParallelism(), treeBytes: bytes };
  try {
    // 1 GB of files.
    const files = (await scan({ defaults: false, watch: [{ path: dir }] }, 2)).entries.filter((e) => e.type === 'file' && e.path.startsWith(`${dir}/`)).map((e) => e.path);
    const sslMs = await best(3, () => void openssl(files));
    const ours2 = await scan({ defaults: false, watch: [{ path: dir }] }, 2);
    const ours1 = await scan({ defaults: false, watch: [{ path: dir }] }, 1);
    const aide1 = await aide(dir, tmp, 1);
    const aide2 = await aide(dir, tmp, 2);
    out.tree = {
      files: files.length,
      opensslMBps: mbps(bytes, sslMs),
      tripwarden2WorkersMBps: mbps(bytes, ours2.ms),
      ratio2: +(sslMs / ours2.ms).toFixed(2),
      tripwarden1WorkerMBps: mbps(bytes, ours1.ms),
      ratio1: +(sslMs / ours1.ms).toFixed(2),
      aide1WorkerMBps: typeof aide1 === 'number' ? mbps(bytes, aide1) : aide1,
      aide2WorkersMBps: typeof aide2 === 'number' ? mbps(bytes, aide2) : aide2,
    };
    // The built-in watch set of this host.
    const def = await scan({ defaults: true }, 2);
    const defFiles = def.entries.filter((e) => e.type === 'file' && !e.error);
    const defBytes = defFiles.reduce((n, e) => n + e.size, 0);
    const defSsl = await best(3, () => void openssl(defFiles.map((e) => e.path)));
    out.defaults = {
      entries: def.entries.length,
      files: defFiles.length,
      bytes: defBytes,
      tripwardenMs: +def.ms.toFixed(1),
      opensslMs: +defSsl.toFixed(1),
      ratio: +(defSsl / def.ms).toFixed(2),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1]?.endsWith('rehash-throughput.ts')) {
  console.log(JSON.stringify(await rehashThroughput(), null, 2));
}
