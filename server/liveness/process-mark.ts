import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Where a pid means one process: this kernel boot when it can be read, the machine, the host name and the pid
 * namespace. `/proc/sys` is hidden under systemd's `ProcSubset=pid`, so the boot id may be missing; the
 * machine id and host name then tell machines apart, and a reboot of this machine ended every holder anyway.
 */
function pidSpace(): string | undefined {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return '';
    }
  };
  try {
    const ns = readlinkSync('/proc/self/ns/pid');
    return [read('/proc/sys/kernel/random/boot_id'), read('/etc/machine-id'), hostname(), ns].join('|');
  } catch {
    return undefined;
  }
}

/**
 * Fields 3 onwards of `/proc/PID/stat` (state first; the start time in clock ticks since boot, field 22, at
 * index 19), or undefined when the process is gone or hidden.
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process's start time in clock ticks since boot, or undefined when hidden. */
function startTicks(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** The pid and start time a mark names when it was made in this pid space; undefined otherwise or malformed. */
function markedHere(mark: string): { pid: number; start: string } | undefined {
  const cut = mark.lastIndexOf('|', mark.lastIndexOf('|') - 1);
  if (cut < 0 || mark.slice(0, cut) !== pidSpace()) return undefined;
  const [pidText, start] = mark.slice(cut + 1).split('|') as [string, string];
  const pid = Number(pidText);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, start } : undefined;
}

/**
 * A mark naming one process (this one by default) of this machine: its pid space, pid and start time, so that
 * {@link processGone} can tell later, from another process, that it no longer runs. Undefined when `/proc`
 * does not show what it needs.
 */
export function processMark(pid = process.pid): string | undefined {
  const space = pidSpace();
  const start = startTicks(pid);
  return space === undefined || start === undefined ? undefined : `${space}|${pid}|${start}`;
}

/**
 * Whether the process `mark` names has certainly ended: it ran in this pid space, and its pid is free or now
 * belongs to a process started at another time. False whenever that cannot be told (another machine or
 * namespace, a process hidden from this one, a malformed mark).
 */
export function processGone(mark: string): boolean {
  const m = markedHere(mark);
  if (!m) return false;
  const { pid, start } = m;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTicks(pid);
  return now !== undefined && now !== start;
}

/**
 * The process `mark` names when it still runs in this pid space (its pid, started at the marked time), with
 * its scheduler state from `/proc/PID/stat` (`T`: stopped by a signal; `t`: stopped by a debugger); undefined
 * when it has ended or cannot be told.
 */
export function markedProcess(mark: string): { pid: number; state: string } | undefined {
  const m = markedHere(mark);
  const fields = m && statFields(m.pid);
  return fields && fields[19] === m.start ? { pid: m.pid, state: fields[0]! } : undefined;
}
