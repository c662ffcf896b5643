/**
 * What the files check guards: the built-in set (`defaults: true`), the
 * agent's own files, and the config's `watch` list, each present path taken
 * and each absent one skipped quietly (a few sentinels excepted: their
 * appearance is the attack).
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { FileClass } from '../../../shared/protocol.ts';
import type { AgentConfig } from '../../config.ts';
import { statePaths } from '../../identity/state-files.ts';
import { librarySearchDirs, parseElf, sharedLibraries } from './elf-deps.ts';
import { symlinkChain } from './symlink-chain.ts';

/** One guarded path: a file, or a directory whose entries (all levels when `recursive`) are guarded too. */
export interface WatchTarget {
  path: string;
  dir: boolean;
  recursive: boolean;
  class: FileClass;
  /** A change here can change what a guarded binary loads (the binary, its loader, libraries, the links on their way, the loader's config): the set is rebuilt. */
  loads?: boolean;
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

/** Configs, databases and spools of the same programs (warning severity unless listed in `DEFAULT_CRITICAL_DIRS`). */
export const DEFAULT_DIRS = ['/etc/tripwire', '/var/lib/tripwire', '/etc/aide', '/var/lib/aide', '/etc/cron.d', '/var/spool/cron', '/etc/mail', '/etc/postfix', '/etc/exim4'];
export const DEFAULT_FILES = ['/etc/crontab'];

/**
 * The checker's policy and database and cron's persistence: critical, as
 * rewriting them silences the checker or runs code as root. Recursive like
 * the entries of `DEFAULT_DIRS` they upgrade; the `/etc/cron.*` dirs join them.
 */
export const DEFAULT_CRITICAL_DIRS = ['/etc/tripwire', '/var/lib/tripwire', '/etc/aide', '/var/lib/aide', '/etc/cron.d', '/var/spool/cron/crontabs'];
export const DEFAULT_CRITICAL_FILES = ['/etc/crontab', '/etc/anacrontab', '/etc/ld.so.conf', '/etc/ld.so.cache'];
export const DEFAULT_CRITICAL_NONRECURSIVE_DIRS = ['/etc/ld.so.conf.d'];
/** The loader's configuration: where it looks for the libraries of the guarded binaries. */
const LOADER_CONFIG = new Set(['/etc/ld.so.conf', '/etc/ld.so.cache', '/etc/ld.so.conf.d']);

/**
 * Paths guarded even while absent: each one's appearance is the attack
 * (a preload list, an override or a mask of a unit below).
 */
export const DEFAULT_SENTINELS = ['/etc/ld.so.preload'];

/** PAM and NSS configuration the guarded daemons read (warning severity; the modules are critical). */
export const DEFAULT_AUTH_FILES = ['/etc/pam.conf', '/etc/nsswitch.conf'];
export const DEFAULT_AUTH_DIRS = ['/etc/pam.d', '/etc/security'];
/** Where PAM modules live: multiarch, then the lib64 and plain layouts. */
export const PAM_MODULE_DIRS = [
  '/lib/x86_64-linux-gnu/security',
  '/usr/lib/x86_64-linux-gnu/security',
  '/lib/aarch64-linux-gnu/security',
  '/usr/lib/aarch64-linux-gnu/security',
  '/lib64/security',
  '/usr/lib64/security',
  '/lib/security',
  '/usr/lib/security',
];

/** Units that schedule the checker and run cron and the mailer. */
export const DEFAULT_UNITS = [
  'dailyaidecheck.timer',
  'dailyaidecheck.service',
  'cron.service',
  'anacron.service',
  'anacron.timer',
  'postfix.service',
  'postfix@.service',
  'exim4.service',
  'exim4-base.service',
  'exim4-base.timer',
];
/** Unit directories, the admin's first: there an absent unit or drop-in is watched for its appearance. */
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
/** Where enable links and masks of the units above live. */
export const WANTS_DIRS = ['/etc/systemd/system/timers.target.wants', '/etc/systemd/system/multi-user.target.wants'];

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

type Add = (t: WatchTarget) => void;

/**
 * Adds a path that exists (or, with `sentinel`, one that may appear), every
 * symlink on the way to it, and its resolved path. Returns the resolved path,
 * or null when it does not exist.
 */
function addPath(add: Add, path: string, cls: FileClass, kind: { dir?: boolean; recursive?: boolean; sentinel?: boolean }, root: string): string | null {
  const { links, real } = symlinkChain(path, root);
  for (const l of links) add({ path: l, dir: false, recursive: false, class: cls });
  if (real === null) {
    if (kind.sentinel && links.length === 0) add({ path, dir: Boolean(kind.dir), recursive: false, class: cls });
    return null;
  }
  const dir = isDir(real);
  if (kind.dir === true && !dir) return null;
  add({ path: real, dir, recursive: dir && Boolean(kind.recursive), class: cls });
  return real;
}

/** Adds a binary, the symlinks on its way, its real path, its loader and the shared libraries it loads. */
function addBinary(addAny: Add, path: string, cls: FileClass, libs: boolean, root = '/'): void {
  if (!existsSync(path) && !isSymlink(path)) return;
  const add: Add = libs ? (t) => addAny({ ...t, loads: true }) : addAny;
  add({ path, dir: false, recursive: false, class: cls });
  const real = addPath(add, path, cls, {}, root);
  if (real === null || !libs) return;
  const interp = parseElf(real)?.interp;
  if (interp) addPath(add, join(root, interp), cls, {}, root);
  const found = new Set<string>();
  const searchDirs = root === '/' ? librarySearchDirs() : librarySearchDirs(join(root, 'etc/ld.so.conf')).map((d) => join(root, d));
  for (const lib of sharedLibraries(real, searchDirs, 500, found)) add({ path: lib, dir: false, recursive: false, class: cls });
  // The names the loader opens: a library reached through /lib -> usr/lib is loaded through that link.
  for (const f of found) for (const l of symlinkChain(f, root).links) add({ path: l, dir: false, recursive: false, class: cls });
}

/** The entries of `dir` whose names match, or none when it cannot be read. */
function entries(dir: string, match: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => match.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** The built-in set (`defaults: true`) under `root`. */
function addDefaults(add: Add, root: string): void {
  const at = (p: string) => join(root, p);
  const addLoader: Add = (t) => add({ ...t, loads: true });
  const adder = (p: string): Add => (LOADER_CONFIG.has(p) ? addLoader : add);
  for (const b of DEFAULT_BINARIES) addBinary(add, at(b), 'critical', true, root);
  for (const f of DEFAULT_FILES) addPath(add, at(f), 'normal', {}, root);
  for (const d of DEFAULT_DIRS) addPath(add, at(d), 'normal', { dir: true, recursive: true }, root);
  for (const d of [...DEFAULT_CRITICAL_DIRS.map(at), ...entries(at('/etc'), /^cron\.\w+$/)]) addPath(add, d, 'critical', { dir: true, recursive: true }, root);
  for (const f of DEFAULT_CRITICAL_FILES) addPath(adder(f), at(f), 'critical', {}, root);
  for (const d of DEFAULT_CRITICAL_NONRECURSIVE_DIRS) addPath(adder(d), at(d), 'critical', { dir: true }, root);
  for (const f of DEFAULT_SENTINELS) addPath(add, at(f), 'critical', { sentinel: true }, root);
  for (const f of DEFAULT_AUTH_FILES) addPath(add, at(f), 'normal', {}, root);
  for (const d of DEFAULT_AUTH_DIRS) addPath(add, at(d), 'normal', { dir: true }, root);
  // A module directory is guarded whole (direct entries): a module dropped in next to the rest is a finding.
  for (const d of PAM_MODULE_DIRS) addPath(add, at(d), 'critical', { dir: true }, root);
  const libDirs = root === '/' ? librarySearchDirs() : librarySearchDirs(at('/etc/ld.so.conf')).map(at);
  const seenLibDirs = new Set<string>();
  for (const d of libDirs) {
    const real = symlinkChain(d, root).real;
    if (real === null || seenLibDirs.has(real)) continue;
    seenLibDirs.add(real);
    for (const f of entries(real, /^libnss_.*\.so/)) addPath(add, f, 'critical', {}, root);
  }
  const admin = at(UNIT_DIRS[0]!);
  for (const u of UNIT_DIRS) {
    const dir = at(u);
    const sentinel = dir === admin && isDir(admin);
    for (const unit of DEFAULT_UNITS) {
      addPath(add, join(dir, unit), 'normal', { sentinel }, root);
      addPath(add, join(dir, `${unit}.d`), 'normal', { dir: true, sentinel }, root);
    }
  }
  for (const d of WANTS_DIRS) addPath(add, at(d), 'normal', { dir: true }, root);
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
 * `self` overrides the executable, `root` the file system root the built-in
 * set is looked up under (tests).
 */
export function buildWatchSet(cfg: AgentConfig, configPath: string, opts: { self?: string; systemdDir?: string; root?: string } = {}): WatchTarget[] {
  const root = opts.root ?? '/';
  const byPath = new Map<string, WatchTarget>();
  const add = (t: WatchTarget) => {
    const old = byPath.get(t.path);
    if (!old) return void byPath.set(t.path, { ...t });
    // The same path listed twice: keep the stronger class and the wider reach.
    if (RANK[t.class] > RANK[old.class]) old.class = t.class;
    old.recursive ||= t.recursive;
    old.dir ||= t.dir;
    if (t.loads) old.loads = true;
  };
  if (cfg.defaults) addDefaults(add, root);
  // The agent's own files: tampering with them opens agent-tampered.
  const self = opts.self ?? selfExecutable();
  addBinary(add, self, 'self', false);
  add({ path: resolve(configPath), dir: false, recursive: false, class: 'self' });
  const sp = statePaths(cfg.stateDir);
  for (const f of [sp.key, sp.cert, sp.ca]) add({ path: f, dir: false, recursive: false, class: 'self' });
  const unitDir = opts.systemdDir ?? join(root, 'etc/systemd/system');
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

  /** Whether a change at `path` can change what a guarded binary loads (a `loads` target or a direct entry of one). */
  loads(path: string): boolean {
    return Boolean(this.exact.get(path)?.loads || this.dirs.get(dirname(path))?.loads);
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
