/**
 * The shared libraries an ELF binary loads, found by reading its dynamic
 * section (DT_NEEDED, DT_RUNPATH/DT_RPATH, PT_INTERP) rather than running
 * `ldd`: ldd runs the binary's own loader, and a replaced binary must never
 * be executed by the agent that is judging it.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

interface ElfInfo {
  interp?: string;
  needed: string[];
  runpath: string[];
  machine: number;
  is64: boolean;
}

/** Reads `len` bytes at `off` (fewer at end of file). */
function readAt(fd: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(Math.max(0, Math.min(len, 1 << 20)));
  const n = readSync(fd, b, 0, b.length, off);
  return b.subarray(0, n);
}

/** Parses the parts of an ELF file that name its dependencies; null when it is not ELF. */
export function parseElf(path: string): ElfInfo | null {
  let fd: number;
  try {
    if (!statSync(path).isFile()) return null;
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    return parseElfFd(fd);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function parseElfFd(fd: number): ElfInfo | null {
  const h = readAt(fd, 0, 64);
  if (h.length < 52 || h.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = h[4] === 2;
  const le = h[5] === 1;
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
  const machine = u16(h, 18);
  const phoff = word(h, is64 ? 32 : 28);
  const phentsize = u16(h, is64 ? 54 : 42);
  const phnum = u16(h, is64 ? 56 : 44);
  const ph = readAt(fd, phoff, phentsize * phnum);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dyn: { offset: number; size: number } | undefined;
  let interp: string | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = i * phentsize;
    if (p + phentsize > ph.length) break;
    const type = u32(ph, p);
    const offset = word(ph, p + (is64 ? 8 : 4));
    const vaddr = word(ph, p + (is64 ? 16 : 8));
    const filesz = word(ph, p + (is64 ? 32 : 16));
    if (type === 1) loads.push({ vaddr, offset, filesz });
    else if (type === 2) dyn = { offset, size: filesz };
    else if (type === 3) interp = readAt(fd, offset, Math.min(filesz, 4096)).toString('latin1').replace(/\0.*$/s, '');
  }
  const info: ElfInfo = { needed: [], runpath: [], machine, is64, ...(interp ? { interp } : {}) };
  if (!dyn) return info;
  const d = readAt(fd, dyn.offset, dyn.size);
  const entries: [number, number][] = [];
  const esz = is64 ? 16 : 8;
  for (let o = 0; o + esz <= d.length; o += esz) {
    const tag = word(d, o);
    if (tag === 0) break;
    entries.push([tag, word(d, o + (is64 ? 8 : 4))]);
  }
  const strtabVaddr = entries.find(([t]) => t === 5)?.[1];
  const strsz = entries.find(([t]) => t === 10)?.[1] ?? 65536;
  if (strtabVaddr === undefined) return info;
  const seg = loads.find((l) => strtabVaddr >= l.vaddr && strtabVaddr < l.vaddr + l.filesz);
  if (!seg) return info;
  const st = readAt(fd, strtabVaddr - seg.vaddr + seg.offset, strsz);
  const str = (off: number) => {
    const end = st.indexOf(0, off);
    return off < st.length && end > off ? st.toString('latin1', off, end) : '';
  };
  for (const [tag, val] of entries) {
    if (tag === 1)
      info.needed.push(str(val)); // DT_NEEDED
    else if (tag === 15 || tag === 29) info.runpath.push(...str(val).split(':').filter(Boolean)); // DT_RPATH, DT_RUNPATH
  }
  info.needed = info.needed.filter(Boolean);
  return info;
}

/** Library directories from /etc/ld.so.conf (with its `include`s), then the defaults. */
export function librarySearchDirs(confPath = '/etc/ld.so.conf'): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const read = (file: string, depth: number) => {
    if (depth > 4 || seen.has(file)) return;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const inc = /^include\s+(.+)$/.exec(line);
      if (inc) {
        for (const f of expandGlob(inc[1]!.trim(), dirname(file))) read(f, depth + 1);
      } else if (line.startsWith('/')) dirs.push(line);
    }
  };
  read(confPath, 0);
  dirs.push('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib');
  return [...new Set(dirs)];
}

/** Expands the one glob form ld.so.conf uses: `dir/*.conf`. */
function expandGlob(pattern: string, base: string): string[] {
  const abs = pattern.startsWith('/') ? pattern : join(base, pattern);
  const star = abs.lastIndexOf('*');
  if (star < 0) return [abs];
  const dir = dirname(abs);
  const [pre, post] = abs.slice(dir.length + 1).split('*') as [string, string];
  try {
    return readdirSync(dir)
      .filter((n) => n.startsWith(pre) && n.endsWith(post ?? ''))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/**
 * The real paths of every shared library `binary` loads, transitively, and its
 * interpreter. Unresolvable names are skipped (the loader would fail too).
 * `found`, when given, receives each path as the loader names it, before
 * symlinks are resolved.
 */
export function sharedLibraries(binary: string, searchDirs = librarySearchDirs(), limit = 500, found?: Set<string>): string[] {
  const out = new Set<string>();
  const top = parseElf(binary);
  if (!top) return [];
  const queue: { file: string; info: ElfInfo }[] = [{ file: binary, info: top }];
  const addFile = (p: string) => {
    found?.add(p);
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      return;
    }
    if (out.has(real) || out.size >= limit) return;
    out.add(real);
    const info = parseElf(real);
    if (info) queue.push({ file: real, info });
  };
  if (top.interp) addFile(top.interp);
  while (queue.length) {
    const { file, info } = queue.shift()!;
    const origin = dirname(file);
    const dirs = [...info.runpath.map((d) => d.replace(/\$\{?ORIGIN\}?/g, origin)), ...searchDirs];
    for (const name of info.needed) {
      if (name.includes('/')) {
        addFile(name.startsWith('/') ? name : join(origin, name));
        continue;
      }
      for (const d of dirs) {
        const cand = join(d, name);
        if (!existsSync(cand)) continue;
        const ci = parseElf(cand);
        // Skip a library built for another machine or word size (multiarch dirs hold both).
        if (ci && (ci.machine !== top.machine || ci.is64 !== top.is64)) continue;
        addFile(cand);
        break;
      }
    }
  }
  return [...out].sort();
}
