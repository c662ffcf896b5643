import { readFileSync, statSync } from 'node:fs';
import type { FileEntry } from '../../../shared/protocol.ts';
import { fileId, runningExecutables, uptimeSeconds, writesRefusedWhileRunning } from '../../hashing/running-executables.ts';
import type { ScanHashing } from './file-measure.ts';

/** A full scan hashes files up to this size on the main thread (one per turn of the loop) instead of starting a pool worker... */
const SCAN_INLINE_MAX_FILE = 4 << 20;
/** ...until it has hashed this much there; the rest goes to the niced pool (a large `watch` tree). */
const SCAN_INLINE_BUDGET = 64 << 20;
/** A running executable smaller than this is re-read anyway: the hash costs less than finding who runs it. */
const REUSE_MIN_BYTES = 1 << 20;

/** Seconds since boot, or NaN when /proc cannot say (then no held hash is ever reused). */
export function bootSeconds(): number {
  try {
    return uptimeSeconds();
  } catch {
    return Number.NaN;
  }
}

/**
 * How the files check's full scans hash: small files on the main thread (a
 * pool worker costs more to start than the default set costs to hash), and
 * not at all a running executable whose identity (device, inode, size, mtime,
 * ctime) is the one hashed while a process that still runs it already ran it:
 * the kernel has refused every write to it since. The agent's own executable
 * is checked first; other processes are read once per scan, and only when
 * such a file is large. Keeps when each held hash was read.
 */
export class ScanHashes {
  /** When each held hash was read (seconds since boot, taken before the read). */
  private readonly hashedAt = new Map<string, number>();
  /** The agent's own executable (device:inode) and when this process started (seconds since boot). */
  private self: { id: string; since: number } | null | undefined;

  /** Records a measurement whose hash was read at `at` (or that has none). */
  record(path: string, at: number, e: FileEntry | null): void {
    if (e?.sha256) this.hashedAt.set(path, at);
    else this.hashedAt.delete(path);
  }

  /**
   * The hashing of one scan: `held` gives the entry measured before it. Paths
   * whose hash was kept are added to `reused` (their read time stays the old one).
   */
  forScan(held: (path: string) => FileEntry | undefined, reused: Set<string>): (path: string) => ScanHashing {
    let inlineLeft = SCAN_INLINE_BUDGET;
    let running: Map<string, number> | undefined;
    return (path) => ({
      inline: (size) => {
        if (size > SCAN_INLINE_MAX_FILE || size > inlineLeft) return false;
        inlineLeft -= size;
        return true;
      },
      reuse: (st) => {
        const was = held(path);
        const at = this.hashedAt.get(path);
        if (!was?.sha256 || at === undefined || st.size < REUSE_MIN_BYTES) return undefined;
        if (was.ino !== st.ino.toString() || was.size !== Number(st.size) || was.mtime !== st.mtimeNs.toString() || was.ctime !== st.ctimeNs.toString()) return undefined;
        if (!writesRefusedWhileRunning()) return undefined;
        const id = fileId(st.dev, st.ino);
        const self = this.selfExecutable();
        let since = self?.id === id ? self.since : undefined;
        if (since === undefined) {
          running ??= runningExecutables();
          since = running.get(id);
        }
        if (since === undefined || !(since < at)) return undefined;
        reused.add(path);
        return was.sha256;
      },
    });
  }

  private selfExecutable(): { id: string; since: number } | null {
    if (this.self === undefined) {
      try {
        const st = statSync('/proc/self/exe', { bigint: true });
        const stat = readFileSync('/proc/self/stat', 'latin1');
        this.self = { id: fileId(st.dev, st.ino), since: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20)[19]) / 100 };
      } catch {
        this.self = null;
      }
    }
    return this.self;
  }
}
