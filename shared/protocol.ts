/**
 * The wire protocol between agent and server: one schema per message, a
 * discriminated union on `type`, TypeScript types inferred from the schemas.
 * Both sides validate every inbound frame here before using any field.
 */
import * as z from 'zod';
import { CheckerDeclaration, CheckerOutputBody, CheckerResultBody, RunChecker } from './checker-messages.ts';

/** Protocol revision carried in `hello`. */
export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts, in bytes (ws `maxPayload`). */
export const MAX_FRAME_BYTES = 64 * 1024;

// Shared by the schemas and the heartbeat's hand check (isHeartbeat), which must accept exactly what they do.
const BOOT_ID = /^[0-9a-f-]{36}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** The largest time a message may carry (ms since the epoch: the end of JavaScript's dates). */
const MAX_TIME = 8.64e15;

const bootId = z.string().regex(BOOT_ID, 'must be a UUID');
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const time = z.number().int().min(0).max(MAX_TIME);
const shortText = (max: number) => z.string().max(max);
const hex64 = z.string().regex(HEX64, 'must be 64 hex digits');

/** Facts an agent reports about its host in `hello`; informational only. */
export const HostFacts = z.strictObject({
  hostname: shortText(255),
  os: shortText(64),
  release: shortText(128),
  arch: shortText(32),
  runtime: shortText(64),
  uptimeSec: z.number().min(0).max(1e10),
  nodeOptions: shortText(1024).optional(),
});

const envelope = { bootId, seq, sentAt: time };

/**
 * The head of the agent's hash-chained spool: the number and hash of
 * the newest record it ever appended, and whether it still holds records the
 * server has not acknowledged. The server checks that an announced head is
 * later reached by the records it receives (else `agent-tampered`).
 */
export const SpoolHead = z.strictObject({
  n: seq,
  hash: hex64,
  /** False once every record up to `n` was sent and acknowledged (the agent's spool is drained). */
  pending: z.boolean(),
});

export const Hello = z.strictObject({
  type: z.literal('hello'),
  ...envelope,
  spool: SpoolHead.optional(),
  protocol: z.literal(PROTOCOL_VERSION),
  agentVersion: shortText(64),
  /** Heartbeat interval the agent promises, in ms; the server caps it by `maxInterval`. */
  interval: z.number().int().min(100).max(86_400_000),
  facts: HostFacts,
  exeSha256: hex64.optional(),
  /**
   * Where the executable hashed in `exeSha256` lives: in the first report (the baseline) that file must hash
   * the same, or it was replaced between the agent's start and its first scan.
   */
  exePath: z.string().min(2).max(4096).regex(/^\//, 'must be an absolute path').optional(),
  /** The checkers this agent's config names (absent: none). */
  checkers: z.array(CheckerDeclaration).max(2).optional(),
});

export const Heartbeat = z.strictObject({
  type: z.literal('heartbeat'),
  ...envelope,
  /** SHA-256 of the agent's whole measured state, so lost events show as divergence. */
  digest: hex64.optional(),
  spool: SpoolHead.optional(),
  /**
   * Asks the server for an `ack` once this heartbeat is stored: the agent's proof that the server still hears
   * it (a half-open connection looks healthy to TCP for many minutes). Heartbeats without it get no reply: at
   * 10,000 agents an ack each was a write per heartbeat, about a third of the server's CPU (BENCHMARKS.md).
   */
  wantAck: z.boolean().optional(),
});

export const Goodbye = z.strictObject({
  type: z.literal('goodbye'),
  ...envelope,
  reason: shortText(200),
});

// --- Measured state: files, daemons, mounts. The agent measures, the server judges.
const absPath = z.string().min(2).max(4096).regex(/^\//, 'must be an absolute path');
const decimal = z.string().regex(/^\d{1,24}$/, 'must be a decimal integer');
const u32 = z.number().int().min(0).max(0xffff_ffff);

/** How much a file matters: `self` (the agent's own files), `critical` (guarded binaries, `critical` entries), `normal`. */
export const FileClass = z.enum(['normal', 'critical', 'self']);

/** One file as measured: content hash (regular files), metadata, symlink target. Times are ns since the epoch. */
export const FileEntry = z.strictObject({
  path: absPath,
  class: FileClass,
  type: z.enum(['file', 'dir', 'symlink', 'other']),
  sha256: hex64.optional(),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  mode: z.number().int().min(0).max(0o177777),
  uid: u32,
  gid: u32,
  ino: decimal,
  nlink: u32,
  mtime: decimal,
  ctime: decimal,
  target: z.string().max(4096).optional(),
  /** Why the content could not be read (the file is then judged on metadata alone). */
  error: shortText(200).optional(),
});

/** A configured daemon: running from its configured, undeleted, unchanged binary, or not. */
export const DaemonEntry = z.strictObject({
  name: z.string().min(1).max(15),
  exe: absPath,
  status: z.enum(['up', 'down', 'exe-mismatch']),
  pids: z.array(u32).max(16),
  /** The executables the processes of that name actually run (`/proc/PID/exe`), `(deleted)` kept. */
  found: z.array(z.string().max(4200)).max(16),
  reason: shortText(300).optional(),
  /**
   * SHA-256 of the binary, when every process runs it as configured (status `up`): the server keeps the
   * first one as the daemon's baseline, so a binary replaced at the same path and restarted is still seen.
   */
  sha256: hex64.optional(),
});

/**
 * A mount meant to be read-only, as `/proc/self/mountinfo` shows it; or
 * (state `covered`) a mount made since the agent started that covers a guarded path.
 */
export const MountEntry = z.strictObject({
  path: absPath,
  expect: z.literal('ro'),
  state: z.enum(['ro', 'rw', 'missing', 'covered']),
});

// --- Listening ports: measured on the agent, baselined on the server like files.
/** Most listening sockets one host reports (the agent keeps the first by key). */
export const MAX_PORTS = 1024;

/** One listening TCP socket or bound UDP socket, with the process that owns it (empty when unknown). */
export const PortEntry = z.strictObject({
  proto: z.enum(['tcp', 'tcp6', 'udp', 'udp6']),
  addr: z.string().regex(/^[0-9a-f.:]{2,45}$/, 'must be an IP address'),
  port: z.number().int().min(0).max(65535),
  /** `comm` of the lowest owning pid (the kernel's 15-character name); '' when no owner could be read. */
  process: z.string().max(64),
  pids: z.array(u32).max(8),
  uid: u32,
});

/** The key of a port in the measured state and the alarm subject: `tcp/127.0.0.1:22`, `tcp6/[::]:22`. */
export function portKey(p: { proto: string; addr: string; port: number }): string {
  return `${p.proto}/${p.addr.includes(':') ? `[${p.addr}]` : p.addr}:${p.port}`;
}
const portKeyText = z.string().regex(/^(tcp|udp)6?\/[0-9a-f.:[\]]{2,47}:\d{1,5}$/, 'must be a port key');

/** Trouble the agent's watcher had (an overflow, a lost watch), reported so the server can log it. */
export const WatchNote = z.strictObject({
  /** `mount-event`: one change of the mount table (action and mount point), reported even when undone at once. */
  kind: z.enum(['overflow', 'watcher-error', 'scan-error', 'sink-error', 'mount-event']),
  message: shortText(300),
});

/**
 * The full measured state, in parts (each frame stays under {@link MAX_FRAME_BYTES}).
 * Parts share `reportId`, are numbered from 0 and sent in order; `last` closes it.
 */
export const Report = z.strictObject({
  type: z.literal('report'),
  ...envelope,
  reportId: bootId,
  part: z.number().int().min(0).max(10_000),
  last: z.boolean(),
  files: z.array(FileEntry).max(2_000),
  daemons: z.array(DaemonEntry).max(64),
  mounts: z.array(MountEntry).max(256),
  ports: z.array(PortEntry).max(MAX_PORTS).default([]),
});

/** Changes measured since the last message, sent at once: new states, and paths now gone. */
export const StateEvent = z.strictObject({
  type: z.literal('event'),
  ...envelope,
  files: z.array(FileEntry).max(2_000),
  gone: z.array(absPath).max(2_000),
  daemons: z.array(DaemonEntry).max(64),
  mounts: z.array(MountEntry).max(256),
  notes: z.array(WatchNote).max(16),
  /** New or changed listeners, and the keys of listeners gone. */
  ports: z.array(PortEntry).max(MAX_PORTS).default([]),
  portsGone: z.array(portKeyText).max(MAX_PORTS).default([]),
});

// --- The spool: every event and local finding is a hash-chained record.

/** The changes of one `event`, as a spooled record body. */
export const EventBody = z.strictObject({
  kind: z.literal('event'),
  files: z.array(FileEntry).max(2_000),
  gone: z.array(absPath).max(2_000),
  daemons: z.array(DaemonEntry).max(64),
  mounts: z.array(MountEntry).max(256),
  notes: z.array(WatchNote).max(16),
  /** Listeners new or changed, and those gone, as in `event`; optional so bodies without ports hash as before. */
  ports: z.array(PortEntry).max(MAX_PORTS).optional(),
  portsGone: z.array(portKeyText).max(MAX_PORTS).optional(),
});

/** The agent lost its route, its link or the server: opened with `endedAt` null, closed with both times. */
export const NetworkLostBody = z.strictObject({
  kind: z.literal('network-lost'),
  startedAt: time,
  endedAt: time.nullable(),
  reasons: z.array(shortText(200)).max(8),
});

/** Low-severity records the agent dropped to stay within its spool limit, summarised. */
export const SummaryBody = z.strictObject({
  kind: z.literal('summary'),
  count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  fromN: seq,
  toN: seq,
  firstAt: time,
  lastAt: time,
  subjects: z.array(z.string().max(4096)).max(50),
});

export const RecordBody = z.discriminatedUnion('kind', [EventBody, NetworkLostBody, SummaryBody, CheckerOutputBody, CheckerResultBody]);

/** One spooled record: `hash` = SHA-256 over the canonical JSON of every other field (shared/spool-chain.ts). */
export const SpoolRecord = z.strictObject({
  n: seq.min(1),
  prev: hex64,
  hash: hex64,
  /** Where and when the record was made: its own boot and sequence, kept through replays. */
  origin: z.strictObject({ bootId, seq, at: time }),
  severity: z.enum(['critical', 'low']),
  body: RecordBody,
});

/**
 * Records `from`..`n` whose bodies the agent dropped to stay within its spool
 * limit (all low severity, summarised in a later `summary` record): the chain
 * continues from `prev` to `hash`, which the server cannot recompute.
 */
export const SpoolGap = z.strictObject({
  gap: z.literal(true),
  from: seq.min(1),
  n: seq.min(1),
  prev: hex64,
  hash: hex64,
});

/** A spooled record on the wire; the envelope is the sending connection's, the record keeps its origin. */
export const RecordMessage = z.strictObject({
  type: z.literal('record'),
  ...envelope,
  record: z.union([SpoolRecord, SpoolGap]),
});

export const AgentMessage = z.discriminatedUnion('type', [Hello, Heartbeat, Goodbye, Report, StateEvent, RecordMessage]);

export const Welcome = z.strictObject({
  type: z.literal('welcome'),
  host: shortText(255),
  serverTime: time,
  /** Interval the server will judge the agent by (the declared one, capped), in ms. */
  interval: z.number().int().min(100),
});

export const Ack = z.strictObject({
  type: z.literal('ack'),
  seq,
});

/** The server's stored state digest differs from the agent's: send a full `report`. */
export const RequestReport = z.strictObject({
  type: z.literal('request-report'),
  reason: shortText(200),
});

/** The server committed spooled record `n` (and everything before it): the agent may drop them. */
export const SpoolAck = z.strictObject({
  type: z.literal('spool-ack'),
  n: seq,
  hash: hex64,
});

export const ServerMessage = z.discriminatedUnion('type', [Welcome, Ack, RequestReport, SpoolAck, RunChecker]);

export type HostFacts = z.infer<typeof HostFacts>;
export type Hello = z.infer<typeof Hello>;
export type Heartbeat = z.infer<typeof Heartbeat>;
export type Goodbye = z.infer<typeof Goodbye>;
export type AgentMessage = z.infer<typeof AgentMessage>;
export type Welcome = z.infer<typeof Welcome>;
export type Ack = z.infer<typeof Ack>;
export type ServerMessage = z.infer<typeof ServerMessage>;
export type FileClass = z.infer<typeof FileClass>;
export type FileEntry = z.infer<typeof FileEntry>;
export type DaemonEntry = z.infer<typeof DaemonEntry>;
export type MountEntry = z.infer<typeof MountEntry>;
export type PortEntry = z.infer<typeof PortEntry>;
export type WatchNote = z.infer<typeof WatchNote>;
export type Report = z.infer<typeof Report>;
export type StateEvent = z.infer<typeof StateEvent>;
export type RequestReport = z.infer<typeof RequestReport>;
export type SpoolHead = z.infer<typeof SpoolHead>;
export type EventBody = z.infer<typeof EventBody>;
export type NetworkLostBody = z.infer<typeof NetworkLostBody>;
export type SummaryBody = z.infer<typeof SummaryBody>;
export type RecordBody = z.infer<typeof RecordBody>;
export type SpoolRecord = z.infer<typeof SpoolRecord>;
export type SpoolGap = z.infer<typeof SpoolGap>;
export type RecordMessage = z.infer<typeof RecordMessage>;
export type SpoolAck = z.infer<typeof SpoolAck>;

/** Enrollment request (HTTPS POST /enroll, no client certificate yet). */
export const EnrollRequest = z.strictObject({
  token: z.string().min(1).max(256),
  csr: z
    .string()
    .min(1)
    .max(16 * 1024),
});
export const EnrollResponse = z.strictObject({
  host: shortText(255),
  certificate: z.string().max(16 * 1024),
  ca: z.string().max(16 * 1024),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;
export type EnrollResponse = z.infer<typeof EnrollResponse>;

/**
 * WebSocket close codes the server and the agent use, each with one meaning
 * (docs/ERRORS.md lists them). No other close code is sent by our code; ws
 * itself closes with 1009 when a frame is larger than {@link MAX_FRAME_BYTES}.
 */
export const CloseCode = {
  /** The agent stops (after its `goodbye`). */
  NORMAL: 1000,
  SHUTTING_DOWN: 1001,
  /** The server could not store a message (not a heartbeat): the agent reconnects and sends again. */
  SERVER_ERROR: 1011,
  PROTOCOL_VIOLATION: 4000,
  REPLAY: 4001,
  NO_HELLO: 4002,
  REVOKED: 4003,
  SUPERSEDED: 4009,
  /** The agent leaves this server for another of its list (going back to its first): no disconnect alarm. */
  MOVING: 4010,
} as const;

/** One of the {@link CloseCode} values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Why a frame was refused, named where it is found (as ws names its errors):
 * larger than {@link MAX_FRAME_BYTES}, not JSON, or not matching the schema.
 */
export type FrameFault = 'too-large' | 'not-json' | 'schema';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string; fault: FrameFault };

/**
 * Parses and validates one frame against a schema. Never throws: a bad frame
 * yields one line that names the first offending field.
 */
export function parseFrame<T>(schema: z.ZodType<T>, raw: string | Buffer): ParseResult<T> {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (Buffer.byteLength(text) > MAX_FRAME_BYTES) return { ok: false, error: `frame larger than ${MAX_FRAME_BYTES} bytes`, fault: 'too-large' };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not JSON', fault: 'not-json' };
  }
  return validate(schema, data);
}

/** Validates a decoded value against a schema, naming the first bad field. */
export function validate<T>(schema: z.ZodType<T>, data: unknown): ParseResult<T> {
  // A server takes a heartbeat from every agent every interval: a well-formed one is checked by hand (the schema
  // was about a tenth of the server's CPU at 2,000 agents); anything else, or any doubt, goes through the schema.
  if (schema === (AgentMessage as z.ZodType) && isHeartbeat(data)) return { ok: true, value: data as T };
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'message';
  return { ok: false, error: `${where}: ${issue?.message ?? 'invalid'}`, fault: 'schema' };
}

const HEARTBEAT_KEYS = new Set(['type', 'bootId', 'seq', 'sentAt', 'digest', 'spool', 'wantAck']);
const isInt = (v: unknown, max: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

/** Exactly what {@link Heartbeat} accepts (true only where the schema passes it unchanged); false sends it to the schema. */
function isHeartbeat(d: unknown): boolean {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return false;
  const m = d as Record<string, unknown>;
  if (m.type !== 'heartbeat') return false;
  for (const k in m) if (!HEARTBEAT_KEYS.has(k) || !Object.hasOwn(m, k)) return false;
  if (typeof m.bootId !== 'string' || !BOOT_ID.test(m.bootId)) return false;
  if (!isInt(m.seq, Number.MAX_SAFE_INTEGER) || !isInt(m.sentAt, MAX_TIME)) return false;
  if ('digest' in m && (typeof m.digest !== 'string' || !HEX64.test(m.digest))) return false;
  if ('wantAck' in m && typeof m.wantAck !== 'boolean') return false;
  if (!('spool' in m)) return true;
  const h = m.spool;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return false;
  const keys = Object.keys(h);
  if (keys.length !== 3 || Object.getPrototypeOf(h) !== Object.prototype) return false;
  const head = h as Record<string, unknown>;
  return isInt(head.n, Number.MAX_SAFE_INTEGER) && typeof head.hash === 'string' && HEX64.test(head.hash) && typeof head.pending === 'boolean';
}
