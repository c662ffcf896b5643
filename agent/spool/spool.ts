import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.ts';
import { type SpoolGap as Gap, type SpoolRecord as Rec, type RecordBody, SpoolGap, SpoolRecord, validate } from '../../shared/protocol.ts';
import { GENESIS_HASH, recordHash } from '../../shared/spool-chain.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import { forEachLine } from './spool-lines.ts';

/**
 * Default spool limit in bytes. Not in the agent config: the optional
 * key `spoolMax` overrides it. 16 MiB holds tens of thousands of events yet
 * is small enough to rewrite in well under a second when compacting.
 */
export const SPOOL_MAX_BYTES = 16 * 1024 * 1024;
/** Acked records are cut from the file once this many accumulate (or when all are acked). */
const COMPACT_EVERY = 256;
/** After summarising, the spool is brought down to this share of its limit, so summaries are rare. */
const SUMMARY_TARGET = 0.75;

export const SPOOL_FILE = 'spool.jsonl';
export const SPOOL_HEAD_FILE = 'spool.head';

export interface ChainPoint {
  n: number;
  hash: string;
}
export type SpoolLine = Rec | Gap;

export interface SpoolOptions {
  dir: string;
  log: Logger;
  /** Limit in bytes (default {@link SPOOL_MAX_BYTES}). */
  maxBytes?: number;
  /** The origin for records the spool makes itself (summaries): the agent's boot id and next sequence. */
  origin?: () => Rec['origin'];
  /**
   * The spool's files were deleted or replaced under the running agent (an intruder covering tracks):
   * called after the spool has recreated them, with the paths found missing or replaced.
   */
  onTampered?: (paths: string[], why: string) => void;
}

const isGap = (r: SpoolLine): r is Gap => 'gap' in r;

/**
 * The agent's durable, hash-chained outbox (one JSON record a line, 0600,
 * fsync'd before anything is sent). The first line holds the chain point the
 * records continue from (the last record cut away after the server's ack);
 * `spool.head` holds the newest record's number and hash, so the number keeps
 * growing across restarts and a spool truncated by hand is noticed.
 * Records leave the file only when the server acknowledged them (compaction
 * rewrites the file atomically). Over its limit, the oldest low-severity
 * records are dropped into a chain `gap` and one `summary` record.
 */
export class Spool {
  readonly path: string;
  private readonly headPath: string;
  private readonly maxBytes: number;
  private fd = -1;
  private headFd = -1;
  /** Bytes of the head file's last write (see writeHead). */
  private headBytes = 0;
  private size = 0;
  base: ChainPoint = { n: 0, hash: GENESIS_HASH };
  head: ChainPoint = { n: 0, hash: GENESIS_HASH };
  acked: ChainPoint = { n: 0, hash: GENESIS_HASH };
  /** Records at or below this number are on the wire: never summarised. */
  protectUpTo = 0;
  /** Where the last read stopped (n, byte offset), so streaming the replay does not rescan. */
  private hint: { n: number; offset: number } | null = null;
  private summarising = false;
  private warnedFull = false;
  private lastOrigin: Rec['origin'] = { bootId: '00000000-0000-0000-0000-000000000000', seq: 0, at: 0 };

  constructor(private readonly o: SpoolOptions) {
    this.path = join(o.dir, SPOOL_FILE);
    this.headPath = join(o.dir, SPOOL_HEAD_FILE);
    this.maxBytes = o.maxBytes ?? SPOOL_MAX_BYTES;
    this.load();
  }

  private load(): void {
    const fromHeadFile = this.readHeadFile();
    const headFileState = fromHeadFile ? 'ok' : existsSync(this.headPath) ? 'unreadable' : 'missing';
    const existed = existsSync(this.path);
    if (!existed) this.rewrite(fromHeadFile?.head ?? this.base, []);
    let first = true;
    let bad = 0;
    let last: ChainPoint | null = null;
    const ackedAt = fromHeadFile?.acked;
    let ackedFound = false;
    forEachLine(this.path, 0, (line) => {
      if (first) {
        first = false;
        try {
          const b = (JSON.parse(line) as { base?: ChainPoint }).base;
          if (b && Number.isSafeInteger(b.n) && /^[0-9a-f]{64}$/.test(b.hash)) {
            this.base = { n: b.n, hash: b.hash };
            return;
          }
        } catch {
          /* fall through */
        }
        bad++;
      }
      const r = parseLine(line);
      if (!r) {
        bad++;
        return;
      }
      if (ackedAt && r.n === ackedAt.n && r.hash === ackedAt.hash) ackedFound = true;
      if (r.n <= this.base.n) return;
      if (!last || r.n > last.n) last = { n: r.n, hash: r.hash };
    });
    // Killed between cutting the file and writing its header (see cutToHeader): everything was acknowledged.
    if (first && ackedAt && ackedAt.n === fromHeadFile.head.n && ackedAt.hash === fromHeadFile.head.hash) this.rewrite(ackedAt, []);
    this.head = last ?? this.base;
    if (bad) this.o.log.error({ lines: bad, path: this.path }, 'spool holds lines that are not records (edited by hand?); the server will see the chain break');
    if (fromHeadFile && fromHeadFile.head.n > this.head.n) {
      // Records were cut from the end of the file: keep counting from the real head, so the server sees them missing.
      this.o.log.error({ head: fromHeadFile.head.n, lastInFile: this.head.n }, 'spool is shorter than its head says (truncated?); the server will see records missing');
      this.head = fromHeadFile.head;
    }
    // The server's last ack, kept in the head file: records it covers that are still in the file are not sent again.
    this.acked = ackedAt && ackedFound && ackedAt.n > this.base.n && ackedAt.n <= this.head.n ? ackedAt : this.base;
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    this.headFd = openSync(this.headPath, existsSync(this.headPath) ? 'r+' : 'w+', 0o600);
    this.headBytes = fstatSync(this.headFd).size;
    this.writeHead();
    if (existed && headFileState !== 'ok' && this.head.n > 0) {
      // The head file is the only witness of records cut from the end of the spool; it is written before
      // anything is sent and never left unparsable by a killed agent (writeHead), so losing it is someone's
      // doing (or, rarely, a power cut mid-write). The records cut with it cannot be counted: the server is
      // told, so the loss is seen.
      const why = `${headFileState} at start while the spool held records up to ${this.head.n}; records cut from its end would go unnoticed`;
      this.o.log.error({ path: this.headPath, head: this.head.n }, `spool head file ${headFileState}; reporting it`);
      this.o.onTampered?.([this.headPath], why);
    }
  }

  private readHeadFile(): { head: ChainPoint; acked?: ChainPoint } | null {
    const point = (h: Partial<ChainPoint> | undefined): ChainPoint | undefined =>
      h && Number.isSafeInteger(h.n) && typeof h.hash === 'string' && /^[0-9a-f]{64}$/.test(h.hash) ? { n: h.n!, hash: h.hash } : undefined;
    try {
      const h = JSON.parse(readFileSync(this.headPath, 'utf8')) as ChainPoint & { acked?: ChainPoint };
      const head = point(h);
      if (!head) return null;
      const acked = point(h.acked);
      return acked ? { head, acked } : { head };
    } catch {
      return null;
    }
  }

  /**
   * Writes the head (and the last ack, when the file still holds acknowledged records) in place; fsync'd unless
   * `sync` is false. Padded with spaces to the length written before, so a kill between the write and the
   * truncation leaves valid JSON: an unparsable head file is then never a killed agent's, but someone's edit.
   */
  private writeHead(sync = true): void {
    const json = JSON.stringify(this.acked.n > this.base.n ? { ...this.head, acked: this.acked } : this.head);
    const b = Buffer.from(json.padEnd(this.headBytes, ' '));
    writeSync(this.headFd, b, 0, b.length, 0);
    if (b.length > json.length) ftruncateSync(this.headFd, json.length);
    this.headBytes = json.length;
    if (sync) fsyncSync(this.headFd);
  }

  /** Whether records remain that the server has not acknowledged. */
  get pending(): boolean {
    return this.acked.n < this.head.n;
  }

  /** Bytes the spool file holds now. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Appends one record, fsync'd, and returns it. Over the limit, the oldest
   * low-severity records are summarised first.
   */
  append(body: RecordBody, severity: 'critical' | 'low', origin: Rec['origin']): Rec {
    this.ensure();
    const partial = { n: this.head.n + 1, prev: this.head.hash, origin, severity, body };
    const rec: Rec = { ...partial, hash: recordHash(partial) };
    this.lastOrigin = origin;
    const line = Buffer.from(`${JSON.stringify(rec)}\n`);
    writeSync(this.fd, line);
    fsyncSync(this.fd);
    this.size += line.length;
    this.head = { n: rec.n, hash: rec.hash };
    this.writeHead();
    if (this.size > this.maxBytes && !this.summarising) this.summarise();
    return rec;
  }

  /** Up to `limit` records after number `afterN`, in order, read from the file (not memory). */
  read(afterN: number, limit: number): SpoolLine[] {
    const out: SpoolLine[] = [];
    if (limit <= 0) return out;
    this.ensure();
    const start = this.hint && this.hint.n <= afterN ? this.hint.offset : 0;
    let end = start;
    let header = start === 0;
    forEachLine(this.path, start, (line, offset) => {
      if (header) {
        header = false;
        end = offset;
        return true;
      }
      const r = parseLine(line);
      end = offset;
      if (!r) {
        this.o.log.warn({ path: this.path }, 'skipping a spool line that is not a valid record');
        return true;
      }
      if (r.n <= afterN) return true;
      out.push(r);
      return out.length < limit;
    });
    if (out.length) this.hint = { n: out[out.length - 1]!.n, offset: end };
    return out;
  }

  /**
   * The server committed everything up to `n`. Everything acknowledged: the file is cut to its header in place
   * (no copy, no rename). Otherwise the acknowledged prefix is cut once {@link COMPACT_EVERY} records have
   * gathered; until then the ack is kept in the head file (written, not fsync'd: lost only with the machine's
   * power, and then the server answers the records sent again as duplicates).
   */
  ack(n: number, hash: string): void {
    if (n <= this.acked.n) return;
    this.acked = { n, hash };
    try {
      if (this.acked.n >= this.head.n) cpuLedger.run('spool/cut', () => this.cutToHeader());
      else if (this.acked.n - this.base.n >= COMPACT_EVERY) this.compact();
      else this.writeHead(false);
    } catch (err) {
      // The records stay in the file (sent again after a restart, answered as duplicates); the next ack tries again.
      this.o.log.warn({ err: (err as Error).message }, 'cannot cut acknowledged records from the spool; keeping them');
    }
  }

  /**
   * Every record is acknowledged: the file becomes its header (the new base) alone. The head file, naming the
   * ack, is made durable first, so a kill between the cut and the header (an empty file) loads as all acknowledged.
   */
  private cutToHeader(): void {
    this.ensure();
    this.writeHead(true);
    ftruncateSync(this.fd, 0);
    const b = Buffer.from(`${JSON.stringify({ base: this.acked })}\n`);
    writeSync(this.fd, b);
    this.size = b.length;
    this.base = this.acked;
    this.hint = null;
  }

  /** Rewrites the file without the acknowledged records (atomically). */
  compact(): void {
    if (this.acked.n <= this.base.n) return;
    cpuLedger.run('spool/compact', () => this.compactNow());
  }

  private compactNow(): void {
    this.ensure();
    const keep: string[] = [];
    let header = true;
    forEachLine(this.path, 0, (line) => {
      if (header) {
        header = false;
        return;
      }
      const r = parseLine(line);
      if (r && r.n > this.acked.n) keep.push(line);
    });
    this.rewrite(this.acked, keep);
  }

  /** Writes header + lines to a temporary sibling, fsyncs, renames over the spool, and reopens. */
  private rewrite(base: ChainPoint, lines: Iterable<string>): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    let size = 0;
    try {
      const put = (s: string) => {
        const b = Buffer.from(`${s}\n`);
        writeSync(fd, b);
        size += b.length;
      };
      put(JSON.stringify({ base }));
      for (const l of lines) put(l);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    fsyncDir(this.o.dir);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = size;
    this.base = base;
    this.hint = null;
  }

  /**
   * Checks that the spool file and its head file are still the ones this
   * process holds open, and recreates them when they are not: an intruder who
   * deletes the state dir or the spool must not stop the agent, nor take the
   * records not yet acknowledged with them. The open descriptor still reaches
   * the old file's content (deleted or renamed over), so those records are
   * copied into the new file and the chain continues unbroken from the head
   * held in memory. When that content cannot be read, the new file starts
   * from the last acknowledged point and the server sees the records missing.
   * A spool truncated or edited to another length in place is rewritten the
   * same way from what is left in it. Reports what it found through
   * `onTampered`. Cheap: three stats.
   */
  ensure(): void {
    if (this.fd < 0) return;
    const lost: string[] = [];
    const replaced = !sameFile(this.path, this.fd);
    // Truncated or edited in place: the same file, but not the length this process wrote. What was cut is
    // gone from the file (no descriptor still holds it); what is left and unacknowledged is kept.
    const resized = !replaced && sizeOf(this.fd) !== this.size;
    if (replaced || resized) lost.push(this.path);
    if (!sameFile(this.headPath, this.headFd)) lost.push(this.headPath);
    if (!lost.length) return;
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    let why = 'deleted or replaced while the agent ran; rewritten from the head held in memory';
    if (lost.includes(this.path)) {
      const keep: string[] = [];
      why = resized
        ? 'truncated or edited in place while the agent ran; rewritten with the records left in it not yet acknowledged'
        : 'deleted or replaced while the agent ran; recreated with the records not yet acknowledged';
      try {
        let header = true;
        forEachLine(`/proc/self/fd/${this.fd}`, 0, (line) => {
          if (header) {
            header = false;
            return;
          }
          const r = parseLine(line);
          if (r && r.n > this.acked.n) keep.push(line);
        });
      } catch (err) {
        keep.length = 0;
        why = `deleted or replaced while the agent ran; its records could not be recovered (${(err as Error).message}); recreated from the last acknowledged record`;
      }
      this.rewrite(this.acked, keep);
      this.o.log.error({ path: this.path, kept: keep.length, head: this.head.n }, 'spool deleted or replaced under the agent; recreated');
    }
    if (this.headFd >= 0)
      try {
        closeSync(this.headFd);
      } catch {
        /* already gone */
      }
    this.headFd = openSync(this.headPath, 'w+', 0o600);
    this.headBytes = 0;
    this.writeHead();
    this.o.onTampered?.(lost, why);
  }

  /**
   * Brings the spool under its limit: the oldest low-severity records not on
   * the wire are replaced by chain gaps, and one `summary` record (critical,
   * so never dropped) says how many and which subjects. Critical records are
   * never dropped, even if the spool then stays over its limit.
   */
  private summarise(): void {
    this.summarising = true;
    try {
      const target = this.size - this.maxBytes * SUMMARY_TARGET;
      const chosen = new Set<number>();
      let freed = 0;
      const sum = { count: 0, fromN: 0, toN: 0, firstAt: 0, lastAt: 0, subjects: [] as string[] };
      let header = true;
      forEachLine(this.path, 0, (line) => {
        if (header) {
          header = false;
          return true;
        }
        const r = parseLine(line);
        if (!r || isGap(r) || r.severity !== 'low' || r.n <= this.protectUpTo || r.body.kind === 'summary') return true;
        chosen.add(r.n);
        freed += line.length + 1;
        if (!sum.count) {
          sum.fromN = r.n;
          sum.firstAt = r.origin.at;
        }
        sum.count++;
        sum.toN = r.n;
        sum.lastAt = r.origin.at;
        if (r.body.kind === 'event')
          for (const s of [...r.body.files.map((f) => f.path), ...r.body.gone]) if (sum.subjects.length < 50 && !sum.subjects.includes(s)) sum.subjects.push(s);
        return freed < target;
      });
      if (!chosen.size) {
        if (!this.warnedFull) this.o.log.error({ bytes: this.size, max: this.maxBytes }, 'spool over its limit but holds only critical records; keeping them all');
        this.warnedFull = true;
        return;
      }
      this.warnedFull = false;
      const lines: string[] = [];
      let run: Gap | null = null;
      const flush = () => {
        if (run) lines.push(JSON.stringify(run));
        run = null;
      };
      header = true;
      forEachLine(this.path, 0, (line) => {
        if (header) {
          header = false;
          return;
        }
        const r = parseLine(line);
        if (!r) return;
        const dropped = isGap(r) ? run !== null : chosen.has(r.n);
        if (dropped) {
          // Adjacent dropped records (and gaps) merge into one gap: the chain runs from its first prev to its last hash.
          run = run ? { ...run, n: r.n, hash: r.hash } : { gap: true, from: isGap(r) ? r.from : r.n, n: r.n, prev: r.prev, hash: r.hash };
        } else {
          flush();
          lines.push(line);
        }
      });
      flush();
      this.rewrite(this.base, lines);
      this.o.log.warn({ dropped: sum.count, fromN: sum.fromN, toN: sum.toN, bytes: this.size }, 'spool over its limit: oldest low-severity records summarised');
      this.append({ kind: 'summary', ...sum }, 'critical', this.o.origin?.() ?? this.lastOrigin);
    } finally {
      this.summarising = false;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    if (this.headFd >= 0) closeSync(this.headFd);
    this.fd = this.headFd = -1;
  }
}

/** Parses and validates one spool line; null when it is not a record or gap. */
export function parseLine(line: string): SpoolLine | null {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return null;
  }
  if (data && typeof data === 'object' && 'gap' in data) {
    const g = validate(SpoolGap, data);
    return g.ok ? g.value : null;
  }
  const r = validate(SpoolRecord, data);
  return r.ok ? r.value : null;
}

/** The size of the file open on `fd`, or -1 when it cannot be read. */
function sizeOf(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return -1;
  }
}

/** Whether `path` names the file open on `fd` (not deleted, not replaced by another). */
function sameFile(path: string, fd: number): boolean {
  try {
    const open = fstatSync(fd);
    if (open.nlink === 0) return false;
    const now = statSync(path);
    return now.ino === open.ino && now.dev === open.dev;
  } catch {
    return false;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some file systems refuse a directory fsync; the rename is still atomic */
  }
}
