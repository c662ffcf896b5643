import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import type { DaemonEntry } from '../../shared/protocol.ts';
import type { Measured } from '../../shared/state-digest.ts';
import { hashFileSync } from '../hash-file.ts';
import type { Check, CheckContext } from './check.ts';

export interface DaemonSpec { name: string; exe: string }

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

/** The processes running now: pid and `comm` (the kernel's 15-character name). */
export function listProcesses(proc = '/proc'): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const n of readdirSync(proc)) {
    if (!/^\d+$/.test(n)) continue;
    try {
      out.push({ pid: Number(n), comm: readFileSync(`${proc}/${n}/comm`, 'utf8').replace(/\n$/, '') });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/**
 * Configured daemons: a process of that name exists, its `/proc/PID/exe` is
 * the configured binary, not `(deleted)`, and the image it runs hashes the
 * same as the file on disk. An `up` entry carries that hash, which the
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

  constructor(private readonly ctx: CheckContext, private readonly proc = '/proc') {
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

  async measure(): Promise<Measured[]> {
    const procs = listProcesses(this.proc);
    return this.specs.map((s) => ({ kind: 'daemon' as const, key: s.name, value: this.judgeOne(s, procs) }));
  }

  private judgeOne(s: DaemonSpec, procs: { pid: number; comm: string }[]): DaemonEntry {
    const mine = procs.filter((p) => p.comm === s.name).sort((a, b) => a.pid - b.pid).slice(0, 16);
    const base = { name: s.name, exe: s.exe, pids: mine.map((p) => p.pid) };
    if (!mine.length) return { ...base, status: 'down', found: [], reason: `no process named ${s.name}` };
    let expected = s.exe;
    try { expected = realpathSync(s.exe); } catch { /* judged below: nothing on disk to match */ }
    const diskHash = this.hashOf(expected);
    const found = new Set<string>();
    const problems: string[] = [];
    for (const p of mine) {
      let link: string;
      try {
        link = readlinkSync(`${this.proc}/${p.pid}/exe`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && !existsSync(`${this.proc}/${p.pid}`)) continue; // exited meanwhile
        found.add('(unreadable)');
        problems.push(`pid ${p.pid}: exe unreadable (${code})`);
        continue;
      }
      found.add(link);
      if (link.endsWith(' (deleted)')) problems.push(`pid ${p.pid} runs a deleted binary`);
      else if (link !== expected) problems.push(`pid ${p.pid} runs ${link}`);
      else if (diskHash === null) problems.push(`${s.exe} cannot be read`);
      else if (this.hashOf(`${this.proc}/${p.pid}/exe`) !== diskHash) problems.push(`pid ${p.pid} runs an image that differs from ${s.exe}`);
    }
    const foundList = [...found].sort().slice(0, 16);
    if (!foundList.length) return { ...base, pids: [], status: 'down', found: [], reason: `no process named ${s.name}` };
    if (problems.length) return { ...base, status: 'exe-mismatch', found: foundList, reason: problems.join('; ').slice(0, 300) };
    // Every process runs the file on disk, hash for hash: its hash goes to the server's baseline (a
    // same-path replacement plus a restart leaves nothing else to compare).
    return { ...base, status: 'up', found: foundList, ...(diskHash ? { sha256: diskHash } : {}) };
  }

  async close(): Promise<void> {}
}
