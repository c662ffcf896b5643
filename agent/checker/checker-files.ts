import { realpathSync, statSync } from 'node:fs';
import type { Logger } from '../../shared/log.ts';
import { parseElf, sharedLibraries } from '../checks/files/elf-deps.ts';
import type { CheckerFiles, CheckerKindImpl } from './checker-kind.ts';

/** Where a checker's binaries (and `ionice`) are looked up, in order: never the environment's $PATH. */
export const CHECKER_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The real path of a regular file, or null when there is none. */
export function realFile(path: string): string | null {
  try {
    const real = realpathSync(path);
    return statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** The real path of the first executable file named `name` in `dirs`, or null. */
export function findBinary(name: string, dirs: readonly string[] = CHECKER_BIN_DIRS): string | null {
  for (const d of dirs) {
    const real = realFile(`${d}/${name}`);
    if (real && (statSync(real).mode & 0o111) !== 0) return real;
  }
  return null;
}

/** A binary (real path), its ELF interpreter and every shared library it loads (read, never run). */
export function binaryFiles(real: string): string[] {
  const out = [real];
  const interp = parseElf(real)?.interp;
  if (interp) {
    const r = realFile(interp);
    if (r) out.push(r);
  }
  out.push(...sharedLibraries(real));
  return out;
}

/** What resolving a configured checker gives: its files, and the real paths of its binaries (absent: not found). */
export interface ResolvedChecker extends CheckerFiles {
  bin: Map<string, string>;
  /** The binaries the kind needs that none of the fixed directories holds. */
  missing: string[];
  /** `ionice` (real path), when present: it starts the checker and is hashed with it. */
  ionice: string | null;
  /** The config's real path (the config as named when it does not resolve: hashing it then refuses). */
  configPath: string;
}

/**
 * The files a configured checker runs with: its binaries with their
 * libraries, `ionice` with its libraries, its config, what the config
 * includes and its database. Reads files only; never throws (an unreadable
 * config leaves just the config listed, so a run refuses on it).
 */
export function resolveChecker(impl: CheckerKindImpl, configPath: string, opts: { binDirs?: readonly string[]; log?: Logger } = {}): ResolvedChecker {
  const files = new Set<string>();
  const bin = new Map<string, string>();
  const missing: string[] = [];
  const add = (paths: string[]) => {
    for (const p of paths) files.add(p);
  };
  for (const name of impl.binaries) {
    const real = findBinary(name, opts.binDirs);
    if (!real) {
      missing.push(name);
      continue;
    }
    bin.set(name, real);
    add(binaryFiles(real));
  }
  const ionice = findBinary('ionice', opts.binDirs);
  if (ionice) add(binaryFiles(ionice));
  const cfgReal = realFile(configPath) ?? configPath;
  files.add(cfgReal);
  let database: string | null = null;
  try {
    const c = impl.configFiles(cfgReal, opts.log);
    for (const f of c.files) files.add(realFile(f) ?? f);
    database = c.database === null ? null : (realFile(c.database) ?? c.database);
    if (database) files.add(database);
  } catch (err) {
    opts.log?.warn({ checker: impl.kind, err: (err as Error).message }, 'cannot read the checker config; a run will refuse');
  }
  return { files: [...files].sort(), database, bin, missing, ionice, configPath: cfgReal };
}
