import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { MAX_PORTS, type PortEntry, portKey } from '../../shared/protocol.ts';
import type { Measured } from '../../shared/state-digest.ts';
import { cpuLedger } from '../cpu-ledger.ts';
import type { Check, CheckContext } from './check.ts';
import { ProcFile } from './proc-file.ts';

/** A socket from `/proc/net/{tcp,tcp6,udp,udp6}` before its owner is known. */
export interface RawSocket {
  proto: PortEntry['proto'];
  addr: string;
  port: number;
  uid: number;
  inode: string;
}

/** The settle time when the config does not give one (the config's own default). */
const DEFAULT_PORT_SETTLE_MS = 30_000;

/** TCP `LISTEN`; for UDP, `07` (TCP_CLOSE) is an unconnected, bound socket: one that receives from anyone. */
const WANTED_STATE: Record<PortEntry['proto'], string> = { tcp: '0A', tcp6: '0A', udp: '07', udp6: '07' };

/**
 * Decodes a `/proc/net` address: each 32-bit word is printed in host byte
 * order, so on little-endian machines the bytes of each word are reversed.
 */
export function decodeAddress(hex: string, little = endianness() === 'LE'): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(little ? word.reverse() : word));
  }
  if (bytes.length === 4) return bytes.join('.');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reads better in its dotted form.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952), so keys are stable and short.
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses one `/proc/net/{tcp,udp}[6]` table into the listening (TCP) or bound (UDP) sockets. */
export function parseProcNet(text: string, proto: PortEntry['proto'], little?: boolean): RawSocket[] {
  const out: RawSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== WANTED_STATE[proto]) continue;
    const [addrHex, portHex] = f[1]!.split(':');
    if (!addrHex || !portHex) continue;
    const inode = f[9]!;
    // Inode 0: a socket whose owner closed it (TIME_WAIT-like leftovers); nobody listens there.
    if (inode === '0') continue;
    out.push({ proto, addr: decodeAddress(addrHex, little), port: parseInt(portHex, 16), uid: Number(f[7]), inode });
  }
  return out;
}

/** The state column (4th field) of a `/proc/net` table line, or undefined for a short line. */
function stateOf(line: string): string | undefined {
  return line.trim().split(/\s+/, 4)[3];
}

/**
 * Bytes asked for per read: the kernel formats about this much of a table per call (six or seven lines), so
 * a read past the listeners walks the connections no further than that; fewer reads than smaller pieces.
 */
const LISTEN_READ_BYTES = 1024;

/**
 * Reads the head of `/proc/net/tcp` or `tcp6` up to the end of its listening
 * section. The kernel prints the listening hash first, then walks the whole
 * established hash (sized by RAM, 262 144 buckets on a 24 GiB host) to print
 * every connection: reading the whole table cost ~6 ms of CPU with 20 sockets
 * and ~28 ms with 19 000, every cycle. A `/proc` table is produced one read at
 * a time, so reading in small pieces and stopping at the first line that is
 * neither LISTEN nor SYN_RECV (kernels before 4.4 printed pending requests
 * under their listener) leaves the established hash almost unwalked. A regular
 * file (tests) is read the same way.
 */
export function readTcpListenSection(file: string | ProcFile): string {
  const f = typeof file === 'string' ? new ProcFile(file) : file;
  try {
    let scan = 0;
    let header = true;
    let end = -1;
    const text = f.readWhile(LISTEN_READ_BYTES, (t) => {
      for (let nl = t.indexOf('\n', scan); nl >= 0; nl = t.indexOf('\n', scan)) {
        const line = t.slice(scan, nl);
        const start = scan;
        scan = nl + 1;
        if (header) {
          header = false;
          continue;
        }
        // The first connection's line is left out: its counters change every moment, the listeners' do not.
        const st = stateOf(line);
        if (st !== undefined && st !== '0A' && st !== '03') {
          end = start;
          return false;
        }
      }
      return true;
    });
    return end < 0 ? text : text.slice(0, end);
  } finally {
    if (typeof file === 'string') f.close();
  }
}

/**
 * Sockets in use per table, from `/proc/net/sockstat` and `sockstat6` (e.g.
 * `TCP: inuse 3`), keyed tcp, udp, tcp6, udp6; empty when unreadable. Every
 * hashed socket counts, listeners included, so a table whose count is 0 has
 * nothing to report and need not be read: reading an empty `/proc/net/tcp6`
 * still walks the whole established hash (~3 ms of CPU here).
 */
export function socketsInUse(proc = '/proc'): Map<string, number> {
  const files = SocketFiles.at(proc);
  try {
    return files.inUse();
  } finally {
    files.close();
  }
}

/** The tables in the order read. */
const PROTOS = ['tcp', 'tcp6', 'udp', 'udp6'] as const;

/** The files one cycle of the ports check reads, kept open between cycles (see {@link ProcFile}). */
class SocketFiles {
  private constructor(
    readonly sockstat: ProcFile[],
    readonly tables: ProcFile[],
  ) {}

  static at(proc: string): SocketFiles {
    return new SocketFiles(
      ['sockstat', 'sockstat6'].map((f) => new ProcFile(`${proc}/net/${f}`)),
      PROTOS.map((p) => new ProcFile(`${proc}/net/${p}`)),
    );
  }

  inUse(): Map<string, number> {
    const out = new Map<string, number>();
    for (const f of this.sockstat) {
      let text: string;
      try {
        text = f.read('latin1');
      } catch {
        continue;
      }
      for (const m of text.matchAll(/^(TCP|UDP|TCP6|UDP6): inuse (\d+)/gm)) out.set(m[1]!.toLowerCase(), Number(m[2]));
    }
    return out;
  }

  /** The text of each table in {@link PROTOS} order, `''` for one skipped or unreadable. */
  texts(): string[] {
    const inUse = this.inUse();
    return PROTOS.map((proto, i) => {
      if (inUse.get(proto) === 0) return '';
      const f = this.tables[i]!;
      // TCP: only the listening section (see readTcpListenSection); the UDP tables are small.
      try {
        return proto.startsWith('tcp') ? readTcpListenSection(f) : f.read();
      } catch {
        return ''; // e.g. IPv6 disabled
      }
    });
  }

  close(): void {
    for (const f of [...this.sockstat, ...this.tables]) f.close();
  }
}

/**
 * The listening TCP and bound UDP sockets of every table in use, as one cycle of the ports check reads them
 * (the tables `/proc/net/sockstat{,6}` count empty are skipped; TCP up to its listen section only).
 */
export function readSocketTables(proc = '/proc', files?: SocketFiles): RawSocket[] {
  const f = files ?? SocketFiles.at(proc);
  try {
    return parseSocketTables(f.texts());
  } finally {
    if (!files) f.close();
  }
}

function parseSocketTables(texts: string[]): RawSocket[] {
  return texts.flatMap((text, i) => (text ? parseProcNet(text, PROTOS[i]!) : []));
}

/**
 * Socket inode → owning pids, from the `socket:[INODE]` links under `/proc/PID/fd` (only the inodes asked for).
 * Each link is one `readlink`, and a busy host holds thousands (4,500 fds cost ~75 ms of CPU to walk), so the
 * walk goes where an owner most likely is and stops once every inode asked for has one: first the processes in
 * `likely` (those that held a listener at the last walk: a server reopening its port), then the others newest
 * first (a listener that settles was mostly opened by a process started shortly before).
 *
 * Given each inode's uid (a `Map`, the uid column of `/proc/net`), a first pass walks only the processes owned
 * by one of those uids (the owner of `/proc/PID`, one `stat` each): a socket's uid is its creator's, so another
 * user's processes are mostly not read at all. A holder of another uid than its socket's (a daemon that binds as
 * root and then drops to its own user, or one handed the descriptor) is still found: what the first pass leaves
 * unowned, a second pass looks for in the processes it skipped, so nobody hides a listener's owner that way.
 * An inode whose owner cannot be seen (another user's process without root) still costs the whole walk. With
 * `all`, every process is walked and every holder listed (several for a forked server). `walked`, when given,
 * receives each pid whose fds were read, in order.
 */
export function socketOwners(
  inodes: Set<string> | Map<string, number>,
  proc = '/proc',
  o: { likely?: Iterable<number>; all?: boolean; walked?: number[] } = {},
): Map<string, number[]> {
  const owners = new Map<string, number[]>();
  if (!inodes.size) return owners;
  let listed: string[];
  try {
    listed = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return owners;
  }
  const pids = listed.map(Number).sort((a, b) => b - a);
  const present = new Set(pids);
  const first = [...new Set(o.likely ?? [])].filter((p) => present.has(p));
  const firstSet = new Set(first);
  const order = [...first, ...pids.filter((p) => !firstSet.has(p))];
  const wanted = inodes instanceof Map ? inodes : new Map([...inodes].map((i) => [i, -1]));
  const done = () => !o.all && owners.size === wanted.size;
  const walk = (pid: number) => {
    o.walked?.push(pid);
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      return; // exited, or not ours to read
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith('socket:[')) continue;
      const inode = link.slice(8, -1);
      if (!wanted.has(inode)) continue;
      const list = owners.get(inode) ?? [];
      if (!list.includes(pid)) list.push(pid);
      owners.set(inode, list);
    }
  };
  // The uids of inodes still without an owner: once a user's sockets are all found, its processes are not read.
  const uidsLeft = () => new Set([...wanted].filter(([inode]) => !owners.has(inode)).map(([, uid]) => uid));
  const skipped: number[] = [];
  if (inodes instanceof Map && !o.all) {
    let uids = uidsLeft();
    for (const pid of order) {
      if (done()) return owners;
      let uid: number;
      try {
        uid = statSync(`${proc}/${pid}`).uid;
      } catch {
        continue; // exited
      }
      if (!uids.has(uid)) {
        skipped.push(pid);
        continue;
      }
      walk(pid);
      uids = uidsLeft();
    }
  } else {
    skipped.push(...order);
  }
  for (const pid of skipped) {
    if (done()) break;
    walk(pid);
  }
  return owners;
}

/**
 * Listening TCP and bound UDP sockets with their owning process, read from
 * `/proc/net` and `/proc/PID/fd` every cycle. Finding owners walks the
 * processes' fds (see {@link socketOwners}: it stops at the first holder), so
 * it runs only when a socket inode appears that the last walk did not see.
 * Sockets owned by other users' processes need root to
 * attribute; without it `process` is empty (the listener is still reported).
 *
 * A new listener is reported only once it has lived `portSettle` (30 s by
 * default): build tools, test runners and RPC helpers open listeners for a
 * moment, and each was a `port-opened` alarm. A listener already reported that
 * closes or changes process is reported at once, and every listener present at
 * the first measurement (agent start) is reported at once.
 *
 * What this leaves open: a backdoor that listens for less than the settle time
 * and then stays closed for at least as long (e.g. 10 s every few minutes) is
 * never reported by this check. A port that closes and reopens within the
 * settle time keeps its first sighting, so flapping on one port is reported
 * once it has been seen for the settle time in all. What still catches the
 * brief backdoor: any listener that outlives the settle time once (an
 * attacker's shell sits on its connection far longer); the binary it runs from,
 * when it lies in a watched path; the daemons check, when it replaces a guarded
 * daemon. Sampling once an interval never saw every brief listener either: one
 * shorter than the interval could always fall between two cycles.
 */
export class PortsCheck implements Check {
  readonly name = 'ports';
  readonly kind = 'port' as const;
  readonly cadence = 'cycle' as const;
  /** Inode → owner as last found; kept only for inodes still listening. */
  private owners = new Map<string, { pids: number[]; process: string }>();
  /** proto, address and port of every socket of the last measurement. */
  private lastKeys = new Set<string>();
  /** Keys of the last measurement's output, i.e. what the agent has reported; null before the first. */
  private reported: Set<string> | null = null;
  /** Listeners not yet reported: key → when first and last seen. */
  private pending = new Map<string, { first: number; last: number }>();
  /**
   * The last measurement and the table texts it came from, kept when one read of the tables was whole (no
   * listener missing) and none was settling: the same texts again (same sockets, same inodes) measure the same.
   */
  private last: { texts: string[]; items: Measured[] } | null = null;
  private files: SocketFiles | null = null;

  constructor(
    private readonly ctx: CheckContext,
    private readonly proc = '/proc',
  ) {}

  async measure(): Promise<Measured[]> {
    if (!this.ctx.cfg.ports) return [];
    this.files ??= SocketFiles.at(this.proc);
    const texts = this.files.texts();
    const last = this.last;
    if (last && texts.every((t, i) => t === last.texts[i])) return last.items;
    this.last = null;
    const raw = parseSocketTables(texts);
    // /proc/net/tcp is no snapshot: the kernel prints it a page at a time, and when sockets come
    // and go meanwhile (a busy host) an entry can be skipped. A listener missing since the last
    // cycle is looked for once more before it is reported gone.
    const seen = new Set(raw.map((s) => `${s.proto}\0${s.addr}\0${s.port}`));
    let whole = true;
    if ([...this.lastKeys].some((k) => !seen.has(k))) {
      whole = false;
      for (const s of readSocketTables(this.proc, this.files)) if (!seen.has(`${s.proto}\0${s.addr}\0${s.port}`)) raw.push(s);
    }
    this.lastKeys = new Set(raw.map((s) => `${s.proto}\0${s.addr}\0${s.port}`));
    const sockets = new Map<string, RawSocket[]>();
    for (const s of raw) {
      const key = portKey(s);
      const list = sockets.get(key);
      if (list) list.push(s);
      else sockets.set(key, [s]);
    }
    const keys = this.settled([...sockets.keys()]).sort();
    if (keys.length > MAX_PORTS) this.ctx.log.warn({ sockets: keys.length, kept: MAX_PORTS }, 'more listening sockets than a report carries; keeping the first by key');
    const out = keys.slice(0, MAX_PORTS);
    // Owners only for what is reported now: a listener still settling (a test run's, a build's) costs no walk of
    // every process's fds, and the one that settles is attributed to whoever holds it then.
    // Each inode with its socket's uid: the walk looks at that user's processes first (see socketOwners).
    const inodes = new Map(out.flatMap((k) => sockets.get(k)!.map((s) => [s.inode, s.uid] as const)));
    const unknown = new Map([...inodes].filter(([i]) => !this.owners.has(i)));
    if (unknown.size) {
      // Newest first only: the processes that held a listener before include servers with thousands of sockets
      // (a walk of 32 ms each time when they were looked at first), and a new listener is mostly a new process's.
      const found = cpuLedger.run('checks/ports: owner walk', () => socketOwners(unknown, this.proc));
      for (const inode of unknown.keys()) {
        // An owner we cannot see (another user's process without root, another pid namespace)
        // is remembered as unknown too, so the walk is not repeated every cycle for it.
        const pids = (found.get(inode) ?? []).sort((a, b) => a - b);
        this.owners.set(inode, { pids: pids.slice(0, 8), process: pids.length ? this.comm(pids[0]!) : '' });
      }
    }
    for (const i of this.owners.keys()) if (!inodes.has(i)) this.owners.delete(i);
    const byKey = new Map<string, PortEntry>();
    for (const s of out.flatMap((k) => sockets.get(k)!)) {
      const o = this.owners.get(s.inode) ?? { pids: [], process: '' };
      const entry: PortEntry = { proto: s.proto, addr: s.addr, port: s.port, process: o.process, pids: o.pids, uid: s.uid };
      const key = portKey(entry);
      const had = byKey.get(key);
      if (had) {
        // SO_REUSEPORT or a forked server: several sockets on one address; one entry with every pid.
        const pids = [...new Set([...had.pids, ...entry.pids])].sort((a, b) => a - b).slice(0, 8);
        byKey.set(key, { ...had, pids, process: had.process || entry.process });
      } else {
        byKey.set(key, entry);
      }
    }
    this.reported = new Set(out);
    const items = out.map((key) => ({ kind: 'port' as const, key, value: byKey.get(key)! }));
    if (whole && !this.pending.size && keys.length <= MAX_PORTS) this.last = { texts, items };
    return items;
  }

  /** The keys to report now: those already reported, and new ones that have lived the settle time. */
  private settled(keys: string[]): string[] {
    const settle = this.ctx.cfg.portSettle ?? DEFAULT_PORT_SETTLE_MS;
    if (this.reported === null || settle <= 0) return keys;
    const now = this.ctx.clock.now();
    const out: string[] = [];
    for (const key of keys) {
      if (this.reported.has(key)) {
        out.push(key);
        continue;
      }
      const seen = this.pending.get(key) ?? { first: now, last: now };
      seen.last = now;
      if (now - seen.first >= settle) {
        this.pending.delete(key);
        out.push(key);
      } else {
        this.pending.set(key, seen);
      }
    }
    const present = new Set(keys);
    for (const [key, seen] of this.pending) if (!present.has(key) && now - seen.last >= settle) this.pending.delete(key);
    return out;
  }

  private comm(pid: number): string {
    try {
      return readFileSync(`${this.proc}/${pid}/comm`, 'utf8').replace(/\n$/, '').slice(0, 64);
    } catch {
      return '';
    }
  }

  async close(): Promise<void> {
    this.files?.close();
    this.files = null;
  }
}
