/**
 * What the agent reads from an AIDE config: the database a check reads and
 * the files the config pulls in. A reading, not an interpreter: `@@define`
 * and `@@{VAR}` are expanded and includes followed, `@@if` blocks are read
 * as if every branch held (a path named in any branch is guarded).
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What a check with this config reads besides the binary. */
export interface AideConfig {
  /** The database `--check` reads (`database_in`, else the older `database`), when it is a local file. */
  database: string | null;
  /** The database URL as written after expansion, when it is not a local file (stdin, fd:N, a remote URL). */
  databaseUrl: string | null;
  /** Where `--init` and `--update` write (`database_out`), when it is a local file. */
  databaseOut: string | null;
  /** Files the config includes (`@@include`, `@@x_include`), each once, in reading order. */
  includes: string[];
}

/** Longest config (or included file) read, in bytes: a bigger one is read up to this. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** AIDE's own limit on nested includes. */
const MAX_DEPTH = 16;
/** Most included files guarded; beyond, the rest are left out (the config is hashed all the same). */
export const MAX_INCLUDES = 128;

/** `file:/p`, `file:///p` → `/p`; anything else (stdin, fd:, http:) → null. */
export function fileUrlPath(url: string): string | null {
  const m = /^file:(?:\/\/(?=\/))?(\/.*)$/.exec(url.trim());
  return m ? m[1]! : null;
}

/**
 * Reads an AIDE config and the files it includes. Throws when the config
 * itself cannot be read; an unreadable include is listed (so a run hashes it
 * and refuses) and skipped.
 */
export function readAideConfig(path: string, opts: { hostName?: string } = {}): AideConfig {
  const vars = new Map<string, string>([['HOSTNAME', opts.hostName ?? hostname()]]);
  const out: AideConfig = { database: null, databaseUrl: null, databaseOut: null, includes: [] };
  let dbSeen = false;
  let outSeen = false;
  const expand = (s: string) => s.replace(/@@\{(\w+)\}/g, (_m, v: string) => vars.get(v) ?? '');
  const include = (file: string) => {
    if (!out.includes.includes(file) && out.includes.length < MAX_INCLUDES) out.includes.push(file);
  };
  const read = (file: string, depth: number, top: boolean) => {
    let text: string;
    try {
      text = readText(file);
    } catch (err) {
      if (top) throw err;
      return;
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const macro = /^@@(\w+)\s*(.*)$/.exec(line);
      if (macro) {
        const [, name, rest] = macro as unknown as [string, string, string];
        const args = expand(rest).split(/\s+/).filter(Boolean);
        if (name === 'define' && args[0]) vars.set(args[0], args.slice(1).join(' '));
        else if (name === 'undef' && args[0]) vars.delete(args[0]);
        else if ((name === 'include' || name === 'x_include') && args[0]?.startsWith('/')) {
          for (const f of includedFiles(args[0], args[1])) {
            include(f);
            // An x_include runs the file and reads its output: the file is guarded, its output unknowable here.
            if (name === 'include' && depth < MAX_DEPTH) read(f, depth + 1, false);
          }
        }
        continue;
      }
      const opt = /^(database_in|database|database_out)\s*=\s*(\S.*)$/.exec(line);
      if (!opt) continue;
      const url = expand(opt[2]!).trim();
      // AIDE takes the first of each; `database` is the name before 0.17.
      if (opt[1] === 'database_out') {
        if (!outSeen) out.databaseOut = fileUrlPath(url);
        outSeen = true;
      } else if (!dbSeen) {
        dbSeen = true;
        out.database = fileUrlPath(url);
        out.databaseUrl = out.database === null ? url : null;
      }
    }
  };
  read(path, 0, true);
  return out;
}

/** A file, or with a regex the regular files of a directory whose names match it (as AIDE does). */
function includedFiles(target: string, regex: string | undefined): string[] {
  if (regex === undefined) return [target];
  let re: RegExp;
  try {
    re = new RegExp(regex);
  } catch {
    return [];
  }
  try {
    return readdirSync(target)
      .filter((n) => re.test(n))
      .sort()
      .map((n) => join(target, n))
      .filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

/** Reads at most {@link MAX_CONFIG_BYTES} of a regular file (a FIFO or device is refused, not waited on). */
export function readText(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${file}: not a regular file`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0 || (n += r) >= buf.length) break;
    }
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}
