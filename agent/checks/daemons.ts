import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import type { DaemonEntry } from '../../shared/protocol.ts';
import type { Measured } from '../../shared/state-digest.ts';
import { hashFileSync } from '../hashing/hash-file.ts';
import type { Check, CheckContext } from './check.ts';
import { ProcFile } from './proc-file.ts';

export interface DaemonSpec {
  name: string;
  exe: string;
}

/** Default daemons: cron, and the mail daemon of whichever MTA is installed. */
export function defaultDaemons(exists: (p: string) => boolean = existsSync): DaemonSpec[] {
  const cands: DaemonSpec[] = [
    { name: 'cron', exe: '/usr/sbin/cron' },
    { name: 'sendmail', exe: '/usr/lib/sm.bin/sendmail' },
    { name: 'master', exe: '/usr/lib/postfix/sbin/master' },
    { name: 'exim4', exe: '/usr/sbin/exim4' },
  ];
  return cands.filter((d) => exists(d.exe));
}

/** A process as `/proc/PID/stat` shows it: pid, `comm` (the kernel's 15-character name) and start time. */
export interface ProcessId {
  pid: number;
  comm: string;
  /** Start time in clock ticks since boot (field 22): a reused pid has another. */
  start: string;
}

/** Reads `/proc/PID/stat`; null when the process is gone (or unreadable). */
export function readProcessId(pid: number, proc = '/proc'): ProcessId | null {
  const r = readStat(pid, proc);
  return r ? r.id : null;
}

/** `/proc/PID/stat` read once: the process's identity and its scheduler state. */
function readStat(pid: number, proc: string): { id: ProcessId; state: string } | null {
  let s: string;
  try {
    s = readFileSync(`${proc}/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // `PID (comm) state ...`: comm may itself hold spaces and parentheses, so the last `)` ends it.
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  return { id: { pid, comm: s.slice(open + 1, close), start: s.slice(close + 2).split(' ', 20)[19] ?? '' }, state: s.charAt(close + 2) };
}

let commBuf: Buffer | undefined;

/** `/proc/PID/comm` without its newline: open, one read, close (readFileSync would also fstat and allocate). */
function readComm(path: string): string {
  commBuf ??= Buffer.allocUnsafe(64);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, commBuf, 0, commBuf.length, 0);
    return commBuf.toString('utf8', 0, n).replace(/\n$/, '');
  } finally {
    closeSync(fd);
  }
}

/**
 * The pid the kernel handed out last (`/proc/loadavg`, its fifth field), or null when unreadable. Every
 * new process and thread takes the next pid, so while it is unchanged no process has been created.
 */
export function lastPid(loadavg: ProcFile): string | null {
  try {
    const s = loadavg.read('latin1').trimEnd();
    return s.slice(s.lastIndexOf(' ') + 1) || null;
  } catch {
    return null;
  }
}

/**
 * The processes running now: a walk of every `/proc/PID/comm` (cheaper for
 * the kernel to produce than `stat`: ~0.4 ms against ~1.6 ms per walk of 90
 * processes here). Pids only; {@link readProcessId} adds the start time.
 * `known` names pids already read: their comm is taken from it, not read again.
 */
export function listProcesses(proc = '/proc', known?: ReadonlyMap<number, string>): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const n of readdirSync(proc)) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    const comm = known?.get(pid);
    if (comm !== undefined) {
      out.push({ pid, comm });
      continue;
    }
    try {
      out.push({ pid, comm: readComm(`${proc}/${n}/comm`) });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * The scheduler state of a process (`/proc/PID/stat` field 3: `R`, `S`, `D`,
 * `T` stopped, `t` traced, `Z` zombie, `X` dead); null when it is gone.
 */
export function readProcessState(pid: number, proc = '/proc'): string | null {
  let s: string;
  try {
    s = readFileSync(`${proc}/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const close = s.lastIndexOf(')');
  return close < 0 ? null : s.charAt(close + 2) || null;
}

/** States in which a process runs no code: stopped, traced, zombie, dead. */
const NOT_RUNNING = new Set(['T', 't', 'Z', 'X', 'x']);

/** Where a daemon may load shared code from: the system library directories. */
const LIBRARY_DIRS = ['/usr/lib/', '/lib/', '/lib64/', '/lib32/', '/usr/lib64/', '/usr/lib32/', '/usr/libexec/'];

/**
 * The files a process maps executable (`/proc/PID/maps`): its binary, the
 * dynamic loader and its libraries, `(deleted)` kept. Empty when unreadable.
 */
export function mappedExecutables(pid: number, proc = '/proc'): string[] {
  let text: string;
  try {
    text = readFileSync(`${proc}/${pid}/maps`, 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    // `start-end perms offset dev inode   path`: the path starts after five fields and may hold spaces.
    const m = /^\S+ (\S+) \S+ \S+ \d+\s+(\/.*)$/.exec(line);
    if (m && m[1]!.includes('x')) out.add(m[2]!);
  }
  return [...out];
}

/** How often the daemons check walks all of /proc even while every daemon it found is still there. */
export const DAEMON_WALK_MS = 60_000;

/**
 * Configured daemons: a process of that name exists and runs (not stopped,
 * traced or a zombie), its `/proc/PID/exe` is the configured binary, not
 * `(deleted)`, the image it runs hashes the same as the file on disk, and
 * every file it maps executable is either that binary or a library from the
 * system library directories that is still on disk. An `up` entry carries that hash, which the
 * server compares with the first one it saw (the daemon's baseline). `/proc` is read directly: exactness matters here
 * (systeminformation's process list parses `ps` output and truncates).
 */
export class DaemonsCheck implements Check {
  readonly name = 'daemons';
  readonly kind = 'daemon' as const;
  readonly cadence = 'cycle' as const;
  readonly specs: DaemonSpec[];
  /** Hashes by file identity (dev:ino:size:mtime), so an unchanged binary is hashed once. */
  private readonly hashCache = new Map<string, string>();

  constructor(
    private readonly ctx: CheckContext,
    private readonly proc = '/proc',
    private readonly walkEveryMs = DAEMON_WALK_MS,
  ) {
    this.loadavg = new ProcFile(`${proc}/loadavg`);
    // Without a `daemons` list, the built-in ones come with the built-in watch set (`defaults`).
    this.specs = ctx.cfg.daemons ? ctx.cfg.daemons.map((d) => ({ name: d.name, exe: d.exe })) : ctx.cfg.defaults ? defaultDaemons() : [];
  }

  private hashOf(path: string): string | null {
    try {
      const st = statSync(path, { bigint: true });
      const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
      let h = this.hashCache.get(id);
      if (!h) {
        h = hashFileSync(path, { follow: true }).sha256;
        if (this.hashCache.size > 256) this.hashCache.clear();
        this.hashCache.set(id, h);
      }
      return h;
    } catch {
      return null;
    }
  }

  /** The daemons' processes found by the last walk of /proc, and when it ran. */
  private known: ProcessId[] | null = null;
  private lastWalk = -Infinity;
  /** Every process's name as the last full walk read it; walks in between read only new pids. */
  private names = new Map<number, string>();
  private lastFullWalk = -Infinity;
  private readonly loadavg: ProcFile;
  /** {@link lastPid} as read just before the last walk. */
  private pidBeforeWalk: string | null = null;
  /** Each kept process's scheduler state as this cycle read it with its identity (one read of its `stat`, not two). */
  private states = new Map<number, string>();

  async measure(): Promise<Measured[]> {
    if (!this.specs.length) return [];
    const procs = this.processes();
    return this.specs.map((s) => ({ kind: 'daemon' as const, key: s.name, value: this.judgeOne(s, procs) }));
  }

  /**
   * The processes named like a configured daemon. Walking all of /proc costs a
   * read per process (~1 ms of CPU per 100 processes), so the processes one
   * walk found are kept and only their `/proc/PID/stat` re-read each cycle;
   * /proc is walked again when one of them is gone, has another name or start
   * time (the pid was reused, or it exec'd something else), when a daemon had
   * no process and the kernel has handed out a pid since the last walk (to see it come back at once; only new
   * pids are read then), and every {@link DAEMON_WALK_MS}
   * (to see a second process of that name appear; every pid is read). Each cycle still reads
   * every kept process's `/proc/PID/exe` when judging it.
   */
  private processes(): ProcessId[] {
    const now = this.ctx.clock.now();
    this.states.clear();
    if (this.known && now - this.lastWalk < this.walkEveryMs) {
      const still = this.known.every((p) => {
        // A zombie counts as gone: its successor may already run under another pid.
        const q = readStat(p.pid, this.proc);
        if (q) this.states.set(p.pid, q.state);
        return q !== null && q.id.comm === p.comm && q.id.start === p.start && q.state !== 'Z' && q.state !== 'X';
      });
      // A daemon with no process can only come back as a new process: none was created since the last walk.
      if (still && (this.specs.every((s) => this.known!.some((p) => p.comm === s.name)) || (this.pidBeforeWalk !== null && lastPid(this.loadavg) === this.pidBeforeWalk))) {
        return this.known;
      }
    }
    this.pidBeforeWalk = lastPid(this.loadavg);
    const names = new Set(this.specs.map((s) => s.name));
    // A daemon that is down is looked for every cycle: between full walks only pids new since the last walk
    // are read (a process that takes the name by exec under an old pid waits for the next full walk).
    const full = now - this.lastFullWalk >= this.walkEveryMs;
    const all = listProcesses(this.proc, full ? undefined : this.names);
    if (full) this.lastFullWalk = now;
    this.names = new Map(all.map((p) => [p.pid, p.comm]));
    this.known = all
      .filter((p) => names.has(p.comm))
      .map((p) => {
        const q = readStat(p.pid, this.proc);
        if (q) this.states.set(p.pid, q.state);
        return q?.id ?? null;
      })
      .filter((p): p is ProcessId => p !== null && names.has(p.comm)); // exited (or exec'd) since the walk
    this.lastWalk = now;
    return this.known;
  }

  private judgeOne(s: DaemonSpec, procs: ProcessId[]): DaemonEntry {
    const mine = procs
      .filter((p) => p.comm === s.name)
      .sort((a, b) => a.pid - b.pid)
      .slice(0, 16);
    const base = { name: s.name, exe: s.exe, pids: mine.map((p) => p.pid) };
    if (!mine.length) return { ...base, status: 'down', found: [], reason: `no process named ${s.name}` };
    let expected = s.exe;
    try {
      expected = realpathSync(s.exe);
    } catch {
      /* judged below: nothing on disk to match */
    }
    const diskHash = this.hashOf(expected);
    const found = new Set<string>();
    const problems: string[] = [];
    const stopped: string[] = [];
    const dead: string[] = [];
    for (const p of mine) {
      // A stopped or zombie daemon runs no jobs: it is down, whatever its image.
      const state = this.states.get(p.pid) ?? readProcessState(p.pid, this.proc);
      if (state === null) continue;
      // A zombie is a corpse (it counts as gone); a stopped or traced one is held by someone.
      if (state === 'Z' || state === 'X' || state === 'x') {
        dead.push(`pid ${p.pid} is a zombie`);
        continue;
      }
      if (NOT_RUNNING.has(state)) {
        stopped.push(`pid ${p.pid} is not running (state ${state})`);
        continue;
      }
      let link: string;
      try {
        link = readlinkSync(`${this.proc}/${p.pid}/exe`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Killed between the two reads: gone, or a zombie whose exe link the kernel already dropped.
        const now = readProcessState(p.pid, this.proc);
        if (code === 'ENOENT' && (now === null || NOT_RUNNING.has(now))) continue;
        found.add('(unreadable)');
        problems.push(`pid ${p.pid}: exe unreadable (${code})`);
        continue;
      }
      found.add(link);
      if (link.endsWith(' (deleted)')) problems.push(`pid ${p.pid} runs deleted ${link.slice(0, -' (deleted)'.length)}`);
      else if (link !== expected) problems.push(`pid ${p.pid} runs ${link}`);
      else if (diskHash === null) problems.push(`${s.exe} cannot be read`);
      else if (this.hashOf(`${this.proc}/${p.pid}/exe`) !== diskHash) problems.push(`pid ${p.pid} runs an image that differs from ${s.exe}`);
      for (const lib of mappedExecutables(p.pid, this.proc)) {
        if (lib === link) continue;
        if (lib.endsWith(' (deleted)')) problems.push(`pid ${p.pid} maps deleted ${lib.slice(0, -' (deleted)'.length)}`);
        else if (!LIBRARY_DIRS.some((d) => lib.startsWith(d))) problems.push(`pid ${p.pid} maps ${lib} from outside the library directories`);
      }
    }
    const foundList = [...found].sort().slice(0, 16);
    // One stopped process of the name is enough: the intruder froze the one that mattered.
    if (stopped.length) return { ...base, status: 'down', found: foundList, reason: stopped.join('; ').slice(0, 300) };
    if (!foundList.length) return { ...base, pids: [], status: 'down', found: [], reason: (dead.length ? dead.join('; ') : `no process named ${s.name}`).slice(0, 300) };
    if (problems.length) return { ...base, status: 'exe-mismatch', found: foundList, reason: problems.join('; ').slice(0, 300) };
    // Every process runs the file on disk, hash for hash: its hash goes to the server's baseline (a
    // same-path replacement plus a restart leaves nothing else to compare).
    return { ...base, status: 'up', found: foundList, ...(diskHash ? { sha256: diskHash } : {}) };
  }

  async close(): Promise<void> {
    this.loadavg.close();
  }
}
