import { lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** The loader's limit on symlinks followed while resolving one path. */
const MAX_HOPS = 40;

/**
 * Resolves `path` one component at a time under `root`, as the kernel does,
 * and names every symlink met on the way (the final component included):
 * repointing any of them changes what is loaded without touching the target.
 * Absolute link targets are taken under `root`. `real` is the resolved path,
 * or null when some component does not exist (the links met so far are kept).
 */
export function symlinkChain(path: string, root = '/'): { links: string[]; real: string | null } {
  const links: string[] = [];
  const rel = path.startsWith(root) ? path.slice(root.length) : path;
  let rest = rel.split('/').filter(Boolean);
  let cur = root;
  let hops = 0;
  while (rest.length) {
    const name = rest.shift()!;
    if (name === '.') continue;
    const next = name === '..' ? (cur === root ? root : join(cur, '..')) : join(cur, name);
    let link = false;
    try {
      link = lstatSync(next).isSymbolicLink();
    } catch {
      return { links, real: null };
    }
    if (!link) {
      cur = next;
      continue;
    }
    if (++hops > MAX_HOPS) return { links, real: null };
    if (!links.includes(next)) links.push(next);
    let target: string;
    try {
      target = readlinkSync(next);
    } catch {
      return { links, real: null };
    }
    const base = isAbsolute(target) ? root : cur;
    rest = [...target.split('/').filter(Boolean), ...rest];
    cur = base;
  }
  return { links, real: cur };
}
