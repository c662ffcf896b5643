import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './fleet.ts';

/** How the bench runs the server: `dist` is what the packages ship (built JavaScript), `source` is TypeScript through tsx. */
export type ServerFrom = 'dist' | 'source';

let built = false;

/**
 * Node's arguments that run the server's command line `from` dist (built once per bench process, as `npm ci`
 * does, so the run measures this checkout) or from source; `jitless` adds Node's `--jitless`, as the packaged
 * systemd unit runs it.
 */
export function serverMain(from: ServerFrom, jitless: boolean): string[] {
  const flags = jitless ? ['--jitless'] : [];
  if (from === 'source') return [...flags, '--import', 'tsx', join(ROOT, 'server/main.ts')];
  if (!built) {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-server.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build-server failed: ${r.stderr}`);
    built = true;
  }
  return [...flags, join(ROOT, 'dist/server/main.js')];
}

/**
 * Spawns a server process (`node ARGS` in the checkout) with its output in `logFile`, and resolves once it logs
 * `serving`; rejects when it exits first. `track` sees the process at once (a caller that must kill it on abort).
 */
export function spawnServing(args: string[], logFile: string, track: (p: ChildProcess) => void = () => {}): Promise<{ proc: ChildProcess; servingAt: number }> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  const out = createWriteStream(logFile);
  proc.stderr!.pipe(out);
  return new Promise((res, rej) => {
    let buf = '';
    let done = false;
    proc.stdout!.on('data', (d: Buffer) => {
      out.write(d);
      if (done) return;
      buf += d.toString();
      if (buf.includes('"serving"')) {
        done = true;
        buf = '';
        res({ proc, servingAt: Date.now() });
      }
    });
    proc.once('exit', (code) => {
      if (!done) rej(new Error(`server exited with ${code}; see ${logFile}`));
    });
  });
}
