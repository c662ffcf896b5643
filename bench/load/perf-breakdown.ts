/**
 * Where a process's CPU went, from a system-wide `perf record -a -g` of a load run whose node processes ran with
 * `--perf-basic-prof` (JavaScript frames named from /tmp/perf-PID.map). Each sample is put in one component by its
 * leaf frame and call chain: OpenSSL (handshake or records), SQLite, V8 GC, V8 compile, JSON, the kernel (network,
 * memory, file I/O, other), or the JavaScript frame nearest the leaf (its package or source folder). Prints the
 * server's components (ms, and ms per reconnect with --per N), every process's share, and a per-second timeline.
 *
 * `perf script -i perf.data -F pid,tid,time,ip,sym,dso | node --import tsx bench/load/perf-breakdown.ts --server PID
 *   [--from S] [--to S] [--hz 499] [--per N] [--json FILE]` (--from/--to: seconds after the first sample).
 */

import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    server: { type: 'string' },
    from: { type: 'string', default: '0' },
    to: { type: 'string' },
    hz: { type: 'string', default: '499' },
    per: { type: 'string' },
    json: { type: 'string' },
    detail: { type: 'string', default: '0' },
  },
});
const serverPid = Number(o.server);
const msPerSample = 1000 / Number(o.hz);
const from = Number(o.from);
const to = o.to === undefined ? Infinity : Number(o.to);

interface Frame {
  sym: string;
  dso: string;
}

const GC =
  /Heap::CollectGarbage|Heap::PerformGarbageCollection|ScavengerCollector|Scavenger::|MarkCompactCollector|MinorMarkCompact|MinorMarkSweep|ConcurrentMarking|IncrementalMarking|Sweeper|ScavengeJob|MinorGCJob|ArrayBufferSweeper|Heap::AllocateRaw.*Slow|Heap::ReportExternalMemoryPressure|GlobalHandles::|MarkingBarrier|Evacuat/;
const COMPILE =
  /v8::internal::(Parser|Compiler|compiler::|maglev::|baseline::|Scanner|ParserBase|PreParser|BytecodeGenerator|interpreter::Bytecode|OptimizingCompileDispatcher|Deoptimizer)/;
const OPENSSL_LEAF =
  /^(ossl_|EVP_|evp_|BN_|bn_|EC_|ec_|ecp_|x25519|X25519|sha\d|SHA\d|KECCAK|aes|AES|gcm|GCM|chacha|ChaCha|poly1305|Poly1305|CRYPTO_|OPENSSL_|ssl|SSL_|tls|TLS|RSA|rsa|HMAC|hmac|ASN1|asn1|d2i|i2d|X509|x509|PEM|OBJ_|ERR_|PKEY|HKDF|kdf|KDF|RAND|rand_|drbg|BIO_|bio_|BUF_|lh_|OPENSSL_sk|sk_|WPACKET|PACKET|ctr_|md_|ossl)/;

/** The component of a JavaScript frame `JS:*name PATH:line:col`: its package, node module or source folder. */
function jsArea(sym: string): string {
  const path = sym.split(' ').slice(1).join(' ');
  if (path.includes('/node_modules/')) {
    const rest = path.split('/node_modules/')[1]!.split('/');
    return `js ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (path.startsWith('node:')) {
    const m = path.replace(/:\d+:\d+$/, '').replace(/^node:(internal\/)?/, '');
    if (/^_?tls|^tls/.test(m)) return 'js node:tls';
    if (/^streams|^stream|^_stream/.test(m)) return 'js node:streams';
    if (/^net|^stream_base_commons/.test(m)) return 'js node:net';
    return `js node:${m.split('/')[0]}`;
  }
  const m = /\/(server|shared|agent|bench)\/([^/:]+)/.exec(path);
  if (m) return `js ${m[1]}/${m[2]!.replace(/\.ts$/, '')}`;
  return 'js other';
}

const isJs = (f: Frame) => f.dso.includes('/perf-') && f.sym.startsWith('JS:');

/** What a SQLite sample was doing, from the JavaScript frames that called it (hello, beat, report...). */
function sqliteCaller(frames: Frame[]): string {
  const js = frames
    .filter(isJs)
    .map((f) => f.sym)
    .join('\n');
  if (/heartbeat-batcher|liveness\.ts\S* heartbeats|JS:.heartbeats /.test(js)) return 'heartbeats';
  if (/helloWithRow|hello-batcher|helloIn/.test(js)) return 'hellos';
  if (/openMany|live-session/.test(js)) return 'live sessions';
  if (/onReport|baseline|judge|fleet-peers/.test(js)) return 'reports, baselines, judging';
  if (/event-ledger|spool/.test(js)) return 'events, spool';
  return 'other';
}

/** One sample's component, from its frames (leaf first). */
function component(frames: Frame[]): string {
  const leaf = frames[0];
  if (!leaf) return 'unknown';
  const chain = frames.map((f) => f.sym).join('\n');
  if (GC.test(chain))
    return /Scaveng|MinorGC|MinorMark/.test(chain)
      ? 'V8 GC: minor (scavenge)'
      : /MarkCompact|ConcurrentMarking|IncrementalMarking|Sweeper|MarkingBarrier|Evacuat/.test(chain)
        ? 'V8 GC: major (marking, sweeping, compaction)'
        : 'V8 GC: other';
  if (leaf.dso.includes('kallsyms')) {
    // The leaf of a kernel sample is where the timer interrupt was taken (often an irq-enable point on this VM):
    // name the system call on the chain instead.
    if (/page_fault|handle_mm_fault/.test(chain)) return 'kernel: page faults';
    const sys = /__(?:x64|do)_sys_(\w+)/.exec(chain);
    if (sys)
      return `kernel: ${sys[1]!.replace(/^(pwrite64|pread64|fdatasync|fsync|write|read|writev|readv)$/, (x) => (frames.some((f) => f.dso.includes('better_sqlite3')) ? `${x} (SQLite)` : x))}`;
    return 'kernel: other (irq, softirq, scheduler)';
  }
  if (frames.some((f) => f.dso.includes('better_sqlite3'))) return `SQLite: ${sqliteCaller(frames)}`;
  const nativeChain = frames
    .filter((f) => !isJs(f))
    .map((f) => f.sym)
    .join('\n');
  if (OPENSSL_LEAF.test(leaf.sym) || /SSL_|ossl_|EVP_|TLSWrap::(Destroy|~)|tls_/.test(nativeChain)) {
    if (/d2i_SSL_SESSION|tls_decrypt_ticket/.test(nativeChain)) return 'TLS handshake: ticket decrypt, session + peer cert parse';
    if (/x25519|EVP_PKEY_derive|EVP_PKEY_keygen|ssl_generate_pkey|ssl_derive|ecx_/.test(nativeChain)) return 'TLS handshake: key exchange (x25519)';
    if (/new_session_ticket|i2d_SSL_SESSION|construct_stateless_ticket|ssl_session_dup/.test(nativeChain)) return 'TLS handshake: new session ticket';
    if (/state_machine|ossl_statem|tls_construct_|tls_process_|tls_post_process|SSL_do_handshake/.test(nativeChain)) return 'TLS handshake: other';
    if (/SSL_read|SSL_write|ssl3_read|ssl3_write|do_ssl3_write|tls_get_record|tls_write_records/.test(nativeChain)) return 'TLS records';
    if (/SSL_free|SSL_new|SSL_SESSION_free|TLSWrap::~|X509_free|ossl_x509/.test(nativeChain)) return 'TLS connection new/free';
    return 'OpenSSL other';
  }
  if (COMPILE.test(chain)) return 'V8 compile';
  if (/JsonParse|JsonParser|JsonStringif|Builtins_Json/.test(leaf.sym) || (!isJs(leaf) && /JsonParser|JsonStringifier/.test(nativeChain))) return 'JSON';
  if (isJs(leaf)) return jsArea(leaf.sym);
  // A V8 builtin, runtime function, libc or node's C++: count it with the JavaScript frame that called it.
  const owner = frames.find(isJs);
  if (/node::crypto::TLSWrap|node::StreamBase|node::LibuvStreamWrap|uv__|uv_/.test(nativeChain) && (!owner || frames.indexOf(owner) > 3)) return 'node TLS/stream glue (C++)';
  if (owner) return jsArea(owner.sym);
  return leaf.dso.includes('libc') ? 'libc (no JS caller)' : 'V8/node runtime (no JS caller)';
}

/** The coarse group of a component, for the summary table. */
function group(c: string): string {
  if (c.startsWith('V8 GC') || c === 'V8 compile') return c;
  if (/SQLite|js better-sqlite3|js server\/storage/.test(c)) return 'SQLite (engine, its file I/O, storage JS)';
  if (/^TLS|^OpenSSL|node TLS\/stream glue|js node:tls|js node:crypto/.test(c)) return 'TLS (OpenSSL, TLSWrap, node:tls)';
  if (/^kernel|js node:net|js node:streams|js node:stream/.test(c)) return 'sockets: kernel, node:net, streams';
  if (/js ws|js node:_http|js node:http/.test(c)) return 'ws and the HTTP upgrade';
  if (/^JSON|js zod|js shared\/protocol/.test(c)) return 'JSON + zod';
  if (/js pino|js @pinojs|js sonic-boom|js thread-stream/.test(c)) return 'logging (pino)';
  if (/js server\/|js shared\//.test(c)) return 'our server JS (gateway, liveness, baselines...)';
  if (/libc/.test(c)) return 'malloc/free with no JS caller';
  if (/js node:async_hooks|js node:timers|js node:events|js node:process|js node:buffer/.test(c)) return 'node core (async_hooks, events, timers, nextTick)';
  return 'other';
}

const byComp = new Map<string, number>();
const byCompMain = new Map<string, number>();
/** Leaf symbols a component's samples stopped in (--detail K prints the K most frequent of each). */
const leaves = new Map<string, Map<string, number>>();
const byPid = new Map<number, { n: number; kind: string; comm: string }>();
const perSecond = new Map<number, Map<string, number>>();
const serverThreads = new Map<string, number>();
let t0: number | undefined;
let header: { comm: string; pid: number; tid: number; t: number } | undefined;
let frames: Frame[] = [];

function kindOf(pid: number, fr: Frame[]): string | undefined {
  if (pid === serverPid) return 'server';
  const paths = fr
    .filter(isJs)
    .map((f) => f.sym)
    .join('\n');
  if (paths.includes('bench/load/clients.ts')) return 'clients';
  if (paths.includes('bench/load/main.ts')) return 'bench main';
  return undefined;
}

function flush(): void {
  if (!header) return;
  const { pid, tid, t, comm } = header;
  t0 ??= t;
  const rel = t - t0;
  if (rel >= from && rel <= to && pid === 0) {
    const s = perSecond.get(Math.floor(rel)) ?? new Map<string, number>();
    perSecond.set(Math.floor(rel), s);
    s.set('idle', (s.get('idle') ?? 0) + 1);
  } else if (rel >= from && rel <= to) {
    const p = byPid.get(pid) ?? { n: 0, kind: 'other', comm };
    p.n++;
    if (p.kind === 'other') p.kind = kindOf(pid, frames) ?? 'other';
    byPid.set(pid, p);
    const sec = Math.floor(rel);
    const s = perSecond.get(sec) ?? new Map<string, number>();
    perSecond.set(sec, s);
    if (pid === serverPid) {
      const c = component(frames);
      byComp.set(c, (byComp.get(c) ?? 0) + 1);
      if (tid === pid) byCompMain.set(c, (byCompMain.get(c) ?? 0) + 1);
      const l = leaves.get(c) ?? new Map<string, number>();
      leaves.set(c, l);
      const leafName = frames[0] ? frames[0].sym.replace(/\+0x[0-9a-f]+$/, '') : '?';
      l.set(leafName, (l.get(leafName) ?? 0) + 1);
      serverThreads.set(tid === pid ? 'main thread' : 'other threads', (serverThreads.get(tid === pid ? 'main thread' : 'other threads') ?? 0) + 1);
      s.set('server', (s.get('server') ?? 0) + 1);
      if (c.startsWith('V8 GC')) s.set('server GC', (s.get('server GC') ?? 0) + 1);
    } else s.set(`pid ${pid}`, (s.get(`pid ${pid}`) ?? 0) + 1);
  }
  header = undefined;
  frames = [];
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) {
    flush();
    continue;
  }
  if (!line.startsWith('\t')) {
    flush();
    // `comm PID/TID TIME:` (comm, when asked for, may hold spaces).
    const m = /^\s*(?:(\S.*?)\s+)?(\d+)\/(\d+)\s+([\d.]+):/.exec(line);
    if (m) header = { comm: (m[1] ?? '').trim(), pid: Number(m[2]), tid: Number(m[3]), t: Number(m[4]) };
    continue;
  }
  const m = /^\s+[0-9a-f]+\s+(.*)\s+\((.*)\)$/.exec(line);
  if (m) frames.push({ sym: m[1]!, dso: m[2]! });
}
flush();

const per = o.per ? Number(o.per) : undefined;
const total = [...byComp.values()].reduce((s, n) => s + n, 0);
const rows = [...byComp].sort((x, y) => y[1] - x[1]);
console.log(`server pid ${serverPid}: ${total} samples = ${((total * msPerSample) / 1000).toFixed(2)} s CPU in [${from}, ${to}] s`);
console.log(`  threads: ${[...serverThreads].map(([k, v]) => `${k} ${((v * msPerSample) / 1000).toFixed(2)} s`).join(', ')}`);
for (const [c, n] of rows)
  console.log(
    `  ${((100 * n) / total).toFixed(1).padStart(5)} %  ${(n * msPerSample).toFixed(0).padStart(7)} ms${per ? `  ${((n * msPerSample) / per).toFixed(3)} ms/reconnect` : ''}  main thread ${(((byCompMain.get(c) ?? 0) * 100) / n).toFixed(0).padStart(3)} %  ${c}`,
  );
for (const [c] of Number(o.detail) > 0 ? rows.slice(0, 12) : []) {
  const top = [...(leaves.get(c) ?? [])].sort((x, y) => y[1] - x[1]).slice(0, Number(o.detail));
  console.log(`\n${c}: ${top.map(([sym, n]) => `${sym.slice(0, 70)} ${n}`).join('; ')}`);
}
const groups = new Map<string, number>();
for (const [c, n] of rows) groups.set(group(c), (groups.get(group(c)) ?? 0) + n);
const groupRows = [...groups].sort((x, y) => y[1] - x[1]);
console.log('\ngroups:');
for (const [g, n] of groupRows)
  console.log(
    `  ${((100 * n) / total).toFixed(1).padStart(5)} %  ${(n * msPerSample).toFixed(0).padStart(7)} ms${per ? `  ${((n * msPerSample) / per).toFixed(3)} ms/reconnect` : ''}  ${g}`,
  );
console.log('\nprocesses (CPU s in the window):');
const pids = [...byPid].sort((x, y) => y[1].n - x[1].n).slice(0, 12);
for (const [pid, p] of pids) console.log(`  ${((p.n * msPerSample) / 1000).toFixed(2).padStart(7)} s  pid ${pid} ${p.kind} (${p.comm})`);
const kindOfPid = new Map([...byPid].map(([pid, p]) => [`pid ${pid}`, p.kind]));
console.log('\nper second (% of one core): server (its GC) | clients | everything else | idle (of 200)');
const timeline = [...perSecond]
  .sort((x, y) => x[0] - y[0])
  .map(([sec, m]) => {
    let clients = 0;
    let other = 0;
    for (const [k, n] of m) {
      if (k === 'server' || k === 'server GC' || k === 'idle') continue;
      if (kindOfPid.get(k) === 'clients') clients += n;
      else other += n;
    }
    const pct = (n: number) => Math.round((n * msPerSample) / 10);
    return { s: sec, server: pct(m.get('server') ?? 0), serverGc: pct(m.get('server GC') ?? 0), clients: pct(clients), other: pct(other), idle: pct(m.get('idle') ?? 0) };
  });
for (const r of timeline)
  console.log(`  ${String(r.s).padStart(3)} s  ${String(r.server).padStart(3)} (${r.serverGc}) | ${String(r.clients).padStart(3)} | ${String(r.other).padStart(3)} | ${r.idle}`);
if (o.json)
  writeFileSync(
    o.json,
    `${JSON.stringify(
      {
        serverPid,
        window: [from, to],
        hz: Number(o.hz),
        reconnects: per ?? null,
        serverMs: total * msPerSample,
        groups: Object.fromEntries(groupRows.map(([g, n]) => [g, { ms: Math.round(n * msPerSample), msPerReconnect: per ? (n * msPerSample) / per : null }])),
        components: Object.fromEntries(
          rows.map(([c, n]) => [
            c,
            { ms: Math.round(n * msPerSample), mainThreadMs: Math.round((byCompMain.get(c) ?? 0) * msPerSample), msPerReconnect: per ? (n * msPerSample) / per : null },
          ]),
        ),
        processes: pids.map(([pid, p]) => ({ pid, kind: p.kind, comm: p.comm, cpuS: (p.n * msPerSample) / 1000 })),
        timeline,
      },
      null,
      2,
    )}\n`,
  );
