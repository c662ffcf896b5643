/**
 * What the kernel guarantees about a running executable: while a process runs
 * a file, opening that file for writing fails with ETXTBSY (and exec fails on
 * a file open for writing), so its content cannot change until the last
 * process running it ends. A full scan uses this to skip re-reading such a file.
 */
import { closeSync, constants, openSync, readdirSync, readFileSync, statSync } from 'node:fs';

/** USER_HZ: the unit of a process's start time in `/proc/PID/stat` (100 on every Linux architecture in use). */
const TICKS_PER_SECOND = 100;

let refused: boolean | undefined;

/**
 * Whether this kernel refuses writes to a running executable, probed once on
 * the agent's own (`/proc/self/exe`): ETXTBSY means it does. Any other answer
 * (the open succeeded, and is closed at once without writing; another error)
 * means the guarantee is not relied on. A read-only mount still answers
 * ETXTBSY: the kernel checks for writers to the file before the mount.
 */
export function writesRefusedWhileRunning(exe = '/proc/self/exe'): boolean {
  if (exe === '/proc/self/exe' && refused !== undefined) return refused;
  let answer = false;
  try {
    closeSync(openSync(exe, constants.O_WRONLY));
  } catch (err) {
    answer = (err as NodeJS.ErrnoException).code === 'ETXTBSY';
  }
  if (exe === '/proc/self/exe') refused = answer;
  return answer;
}

/** Seconds since boot (`/proc/uptime`), the clock process start times are counted on. */
export function uptimeSeconds(proc = '/proc'): number {
  return Number.parseFloat(readFileSync(`${proc}/uptime`, 'latin1'));
}

/** A file's identity as `device:inode`. */
export const fileId = (dev: bigint | number, ino: bigint | number) => `${dev}:${ino}`;

/**
 * Every running executable by identity (`device:inode`), with the earliest
 * start (seconds since boot) of a process running it: the file has been
 * unwritable at least since then. Processes that cannot be read are skipped.
 */
export function runningExecutables(proc = '/proc'): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const st = statSync(`${proc}/${pid}/exe`, { bigint: true });
      const stat = readFileSync(`${proc}/${pid}/stat`, 'latin1');
      const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20)[19]) / TICKS_PER_SECOND;
      if (!Number.isFinite(start)) continue;
      const id = fileId(st.dev, st.ino);
      const had = out.get(id);
      if (had === undefined || start < had) out.set(id, start);
    } catch {
      // a kernel thread (no exe), a process that ended, or one not ours to read
    }
  }
  return out;
}
