/** Small helpers shared by the benchmarks: percentiles, CLI runs, a process's JSON log. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

/** The p-th percentile (0-100) of samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

/** Runs a TypeScript CLI (server or agent) to completion without blocking the event loop. */
export async function cli(which: 'server' | 'agent', args: string[]): Promise<string> {
  const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, which, 'main.ts'), ...args], { cwd: ROOT, maxBuffer: 16 << 20 });
  return r.stdout;
}

/** Spawns a process and resolves when one of its stdout JSON lines matches. */
export function spawnUntil(cmd: string, args: string[], pred: (o: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<ChildProcess> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const t = setTimeout(() => rej(new Error(`${args.join(' ')}: no matching log line in ${timeoutMs} ms`)), timeoutMs);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          if (pred(JSON.parse(line))) {
            clearTimeout(t);
            res(child);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`${cmd} exited with ${code}`));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
