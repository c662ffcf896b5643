import { readFileSync, statSync } from 'node:fs';

/**
 * The pid of the process holding the write lock of the SQLite database at `path` (WAL mode), or undefined
 * when none does or it cannot be told. SQLite takes that lock as a POSIX byte lock on byte 120 of the
 * `-shm` file (WAL_WRITE_LOCK) from BEGIN IMMEDIATE to COMMIT; Linux lists such locks, with their owner's
 * pid, in `/proc/locks`.
 */
export function walWriteLockHolder(path: string): number | undefined {
  let dev: string;
  let ino: number;
  let locks: string;
  try {
    const st = statSync(`${path}-shm`);
    dev = `${hex(major(st.dev))}:${hex(minor(st.dev))}`;
    ino = st.ino;
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of locks.split('\n')) {
    // "7: POSIX  ADVISORY  WRITE 14313 fe:00:2149052 120 120"; a blocked waiter's line starts "7: -> POSIX".
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'POSIX' || f[3] !== 'WRITE' || f[6] !== '120' || f[7] !== '120') continue;
    if (f[5] !== `${dev}:${ino}`) continue;
    const pid = Number(f[4]);
    if (Number.isSafeInteger(pid) && pid > 0) return pid;
  }
  return undefined;
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
const major = (dev: number) => ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
const minor = (dev: number) => (dev & 0xff) | ((dev >>> 12) & 0xfff00);
const hex = (n: number) => n.toString(16).padStart(2, '0');
