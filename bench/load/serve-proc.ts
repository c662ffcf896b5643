import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { ROOT } from './fleet.ts';

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
