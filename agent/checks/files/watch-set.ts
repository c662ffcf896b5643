/**
 * What the files check guards: the built-in set (`defaults: true`), the
 * agent's own files, and the config's `watch` list, each present path taken
 * and each absent one skipped quietly.
 */
import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { FileClass } from '../../../shared/protocol.ts';
import type { AgentConfig } from '../../config.ts';
import { statePaths } from '../../identity/state-files.ts';
import { sharedLibraries } from './elf-deps.ts';

/** One guarded path: a file, or a directory whose entries (all levels when `recursive`) are guarded too. */
export interface WatchTarget {
  path: string;
  dir: boolean;
  recursive: boolean;
  class: FileClass;
}

/** Binaries whose content is critical and whose shared libraries are guarded with them. */
export const DEFAULT_BINARIES = [
  '/usr/sbin/tripwire',
  '/usr/sbin/twadmin',
  '/usr/sbin/twprint',
  '/usr/sbin/siggen',
  '/usr/bin/aide',
  '/usr/sbin/cron',
  '/usr/sbin/sendmail',
  '/usr/lib/sendmail',
  '/usr/sbin/postfix',
  '/usr/lib/postfix/sbin/master',
  '/usr/sbin/postdrop',
  '/usr/sbin/postqueue',
  '/usr/sbin/exim4',
  '/usr/sbin/exim',
];

/** Configs, databases and spools of the same programs (warning severity unless listed `critical`). */
export const DEFAULT_DIRS = ['/etc/tripwire', '/var/lib/tripwire', '/etc/aide', '/var/lib/aide', '/etc/cron.d', '/var/spool/cron', '/etc/mail', '/etc/postfix', '/etc/exim4'];
export const DEFAULT_FILES = ['/etc/crontab'];

const RANK: Record<FileClass, number> = { normal: 0, critical: 1, self: 2 };

/** The agent's own executable: the compiled single executable, else the entry script. */
export function selfExecutable(): string {
  let sea = false;
  try {
    // node:sea exists from Node 20.12; under tsx or older runtimes it is absent or says false.
    const req = createRequire(import.meta.url);
    sea = Boolean((req('node:sea') as { isSea?: () => boolean }).isSea?.());
  } catch {
    /* not a single executable */
  }
  return sea ? process.execPath : resolve(process.argv[1] ?? process.execPath);
}

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Adds a binary, its symlink's real target, and the shared libraries it loads. */
function addBinary(add: (t: WatchTarget) => void, path: string, cls: FileClass, libs: boolean): void {
  if (!existsSync(path) && !isSymlink(path)) return;
  add({ path, dir: false, recursive: false, class: cls });
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    return;
  }
  if (real !== path) add({ path: real, dir: false, recursive: false, class: cls });
  if (libs) for (const lib of sharedLibraries(real)) add({ path: lib, dir: false, recursive: false, class: cls });
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Builds the watch set for a config. `configPath` is the agent's config file;
 * `self` overrides the executable (tests).
 */
export function buildWatchSet(cfg: AgentConfig, configPath: string, opts: { self?: string; systemdDir?: string } = {}): WatchTarget[] {
  const byPath = new Map<string, WatchTarget>();
  const add = (t: WatchTarget) => {
    const old = byPath.get(t.path);
    if (!old) return void byPath.set(t.path, { ...t });
    // The same path listed twice: keep the stronger class and the wider reach.
    if (RANK[t.class] > RANK[old.class]) old.class = t.class;
    old.recursive ||= t.recursive;
    old.dir ||= t.dir;
  };
  if (cfg.defaults) {
    for (const b of DEFAULT_BINARIES) addBinary(add, b, 'critical', true);
    for (const f of DEFAULT_FILES) if (existsSync(f)) add({ path: f, dir: false, recursive: false, class: 'normal' });
    const cronDirs = (() => {
      try {
        return readdirSync('/etc')
          .filter((n) => /^cron\.\w+$/.test(n))
          .map((n) => join('/etc', n));
      } catch {
        return [];
      }
    })();
    for (const d of [...DEFAULT_DIRS, ...cronDirs]) if (isDir(d)) add({ path: d, dir: true, recursive: true, class: 'normal' });
  }
  // The agent's own files: tampering with them opens agent-tampered.
  const self = opts.self ?? selfExecutable();
  addBinary(add, self, 'self', false);
  add({ path: resolve(configPath), dir: false, recursive: false, class: 'self' });
  const sp = statePaths(cfg.stateDir);
  for (const f of [sp.key, sp.cert, sp.ca]) add({ path: f, dir: false, recursive: false, class: 'self' });
  const unitDir = opts.systemdDir ?? '/etc/systemd/system';
  try {
    for (const n of readdirSync(unitDir)) if (/tripwarden.*\.service$/.test(n)) add({ path: join(unitDir, n), dir: false, recursive: false, class: 'self' });
  } catch {
    /* no systemd here */
  }
  for (const w of cfg.watch) {
    const dir = isDir(w.path);
    add({ path: w.path, dir, recursive: dir && w.recursive, class: w.critical ? 'critical' : 'normal' });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Answers "is this path guarded, and how much": exact targets, entries of
 * guarded directories (direct children, or any depth when recursive).
 */
export class WatchIndex {
  private readonly exact = new Map<string, WatchTarget>();
  private readonly dirs = new Map<string, WatchTarget>();
  constructor(readonly targets: readonly WatchTarget[]) {
    for (const t of targets) {
      this.exact.set(t.path, t);
      if (t.dir) this.dirs.set(t.path, t);
    }
  }

  /** The class a path is guarded with, or null when it is not guarded. */
  classOf(path: string): FileClass | null {
    let best: FileClass | null = this.exact.get(path)?.class ?? null;
    let p = path;
    let depth = 0;
    while (p !== '/') {
      const parent = dirname(p);
      depth++;
      const d = this.dirs.get(parent);
      if (d && (d.recursive || depth === 1) && (best === null || RANK[d.class] > RANK[best])) best = d.class;
      p = parent;
    }
    return best;
  }

  /** Directories to subscribe to: each guarded directory and each parent of a guarded file. */
  watchDirs(): { dir: string; recursive: boolean }[] {
    const m = new Map<string, boolean>();
    for (const t of this.targets) {
      if (t.dir) m.set(t.path, (m.get(t.path) ?? false) || t.recursive);
      const parent = dirname(t.path);
      if (!m.has(parent)) m.set(parent, false);
    }
    return [...m].map(([dir, recursive]) => ({ dir, recursive }));
  }
}
