/**
 * The intruder's moves on `spool.head` and on the spool file while the server is away, end to end: the
 * agent spools three findings with the server stopped, is stopped, its state is edited, then server and
 * agent come back. Each record is either delivered or the server sees it missing (`agent-tampered`), and
 * every agent stays up and delivers its next finding.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { eventPaths, ledger, serveOn, spoolHead, spoolLines } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

/** One agent per move. */
const MOVES = ['acked-raised', 'acked-forged', 'head-deleted', 'head-emptied-tail-cut', 'old-copy', 'head-ahead', 'head-rewritten-tail-cut'] as const;
type Move = (typeof MOVES)[number];

interface Subject {
  host: Move;
  a: TestAgent;
  dir: string;
  proc?: Proc;
  /** The spool file as it was after the first offline record (for the replayed old copy). */
  early?: string;
  /** The agent's fallback device (a file here; a serial console or printer on a real host). */
  sink: string;
}

let init: { dir: string; fingerprint: string };
let server: TestServer;
let serverProc: Proc;
const subjects: Subject[] = [];
const by = (m: Move) => subjects.find((s) => s.host === m)!;
const headPath = (s: Subject) => join(s.a.stateDir, 'spool.head');
const spoolPath = (s: Subject) => join(s.a.stateDir, 'spool.jsonl');
type Line = { n: number; hash: string; body?: { files?: { path: string }[] } };
/** The spooled record naming a file of the watched dir. */
const recordOf = (s: Subject, name: string): Line => spoolLines(s.a.stateDir).find((l) => JSON.stringify(l).includes(`${s.dir}/${name}`)) as unknown as Line;

/**
 * Cuts the spool file from the record naming `name` to its end (other records, a `network-lost`, may follow
 * it); returns the last record left.
 */
function cutFrom(s: Subject, name: string): Line {
  const lines = readFileSync(spoolPath(s), 'utf8').split('\n').filter(Boolean);
  const i = lines.findIndex((l) => l.includes(`${s.dir}/${name}`));
  assert.ok(i > 1, `the record of ${name} follows another in ${s.host}'s spool`);
  writeFileSync(spoolPath(s), `${lines.slice(0, i).join('\n')}\n`);
  return JSON.parse(lines[i - 1]!) as Line;
}

before(async () => {
  init = initServer();
  server = await startServer(init);
  serverProc = server.proc;
  for (const host of MOVES) {
    const root = tempDir('tw-headtamper-');
    const dir = join(root, 'watched');
    const sink = join(root, 'fallback.log');
    mkdirSync(dir);
    const a = enrollAgent(server, host, { extra: `fullScanEvery: 1h\nfallback: [${sink}]\nwatch:\n  - { path: ${dir}, recursive: true }\n` });
    subjects.push({ host, a, dir, sink, proc: runAgent(a) });
  }
  for (const s of subjects) await s.proc!.waitLog((o) => o.msg === 'report sent', 60_000);
});

after(async () => {
  for (const s of subjects) {
    s.proc?.signal('SIGTERM');
    await s.proc?.exited;
    spawnSync('chattr', ['-a', s.sink], { stdio: 'ignore' }); // the sink made it append-only (root)
  }
  serverProc?.signal('SIGTERM');
  await serverProc?.exited;
});

test('spool.head and spool file edited while the server is away: each record is delivered or seen missing', async () => {
  // Everything before is delivered and cut from the spool.
  for (const s of subjects) await waitFor(() => spoolLines(s.a.stateDir).length === 1, { what: `${s.host} drained`, timeoutMs: 60_000 });
  serverProc.signal('SIGTERM');
  await serverProc.exited;
  for (const s of subjects) {
    const start = spoolHead(s.a.stateDir).n;
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(s.dir, `f${i}`), `finding ${i}\n`);
      await waitFor(() => spoolHead(s.a.stateDir).n > start + i && recordOf(s, `f${i}`), { what: `record ${i} of ${s.host}`, timeoutMs: 30_000 });
      if (i === 0) s.early = readFileSync(spoolPath(s), 'utf8');
    }
    s.proc!.signal('SIGTERM');
    await s.proc!.exited;
  }

  // The intruder, root, with the agents stopped (systemctl restart brings them back on his edits).
  const head = (s: Subject) => JSON.parse(readFileSync(headPath(s), 'utf8')) as { n: number; hash: string };
  {
    // `acked` raised to a record in the file: the agent would not send the records up to it.
    const s = by('acked-raised');
    const r = recordOf(s, 'f1');
    writeFileSync(headPath(s), JSON.stringify({ ...head(s), acked: { n: r.n, hash: r.hash } }));
  }
  {
    // A record's hash forged in the file, and `acked` pointed at it.
    const s = by('acked-forged');
    const r = recordOf(s, 'f1');
    const forged = 'e'.repeat(64);
    writeFileSync(spoolPath(s), readFileSync(spoolPath(s), 'utf8').replace(`"hash":"${r.hash}"`, `"hash":"${forged}"`));
    writeFileSync(headPath(s), JSON.stringify({ ...head(s), acked: { n: r.n, hash: forged } }));
  }
  // spool.head deleted, the spool file intact.
  rmSync(headPath(by('head-deleted')));
  {
    // spool.head emptied and the file cut from the newest finding's record on: nothing left on the host says it existed.
    const s = by('head-emptied-tail-cut');
    writeFileSync(headPath(s), '');
    cutFrom(s, 'f2');
  }
  // The newest record cut from the file and spool.head rewritten to name the last one left: nothing on the
  // host's disk says the cut one existed (the residual move, docs/ATTACKS.md "Not covered yet").
  const rewritten = by('head-rewritten-tail-cut');
  const cutRecord = recordOf(rewritten, 'f2');
  {
    const last = cutFrom(rewritten, 'f2');
    writeFileSync(headPath(rewritten), JSON.stringify({ n: last.n, hash: last.hash }));
  }
  // The spool file replaced by a copy from before the last two records (spool.head left as it is).
  writeFileSync(spoolPath(by('old-copy')), by('old-copy').early!);
  {
    // spool.head pointing past the end of the file.
    const s = by('head-ahead');
    const h = head(s);
    writeFileSync(headPath(s), JSON.stringify({ n: h.n + 5, hash: 'd'.repeat(64), acked: { n: h.n + 5, hash: 'd'.repeat(64) } }));
  }

  serverProc = await serveOn(init, server.port);
  for (const s of subjects) s.proc = runAgent(s.a);

  const tampered = async (host: string) => (await openAlarms(server, host)).filter((a) => a.kind === 'agent-tampered');
  const chainBroken = (host: Move) =>
    waitFor(async () => (await tampered(host)).find((a) => a.subject === 'spool chain broken'), { what: `spool chain broken for ${host}`, timeoutMs: 60_000 });
  const stateAlarm = (host: Move) =>
    waitFor(async () => (await tampered(host)).find((a) => a.subject.endsWith('spool.head')), { what: `agent-tampered naming spool.head for ${host}`, timeoutMs: 60_000 });
  const delivered = (s: Subject) => eventPaths(ledger(server, s.host).map((r) => r.body));

  // Skipped records are seen: the next record's number jumps past the server's last.
  for (const host of ['acked-raised', 'acked-forged'] as const) {
    const a = await chainBroken(host);
    assert.match(JSON.stringify(a.detail), /missing/, host);
    await waitFor(() => delivered(by(host)).includes(`${by(host).dir}/f2`), { what: `${host}: the record after the skipped ones delivered` });
  }
  // spool.head gone, the file intact: every record delivered, and the missing head file reported.
  await waitFor(() => ['f0', 'f1', 'f2'].every((f) => delivered(by('head-deleted')).includes(`${by('head-deleted').dir}/${f}`)), {
    what: 'head-deleted: all three records delivered',
  });
  await stateAlarm('head-deleted');
  // The tail cut and spool.head emptied: the cut record cannot be delivered, so the unreadable head must be seen.
  await stateAlarm('head-emptied-tail-cut');
  assert.ok(!delivered(by('head-emptied-tail-cut')).includes(`${by('head-emptied-tail-cut').dir}/f2`), 'the cut record is not delivered (it is gone)');
  // An old copy of the spool: what it holds is delivered (once), the records after it are seen missing.
  assert.match(JSON.stringify((await chainBroken('old-copy')).detail), /never delivered|missing/);
  await waitFor(() => delivered(by('old-copy')).includes(`${by('old-copy').dir}/f0`), { what: 'old-copy: the record the copy holds delivered' });
  // The consistent rewrite: what is left is delivered; the cut record was written, as it was spooled with the
  // server away, to the fallback device, which names its number and hash.
  await waitFor(() => delivered(rewritten).includes(`${rewritten.dir}/f1`), { what: 'head-rewritten-tail-cut: the records left delivered' });
  assert.match(readFileSync(rewritten.sink, 'utf8'), new RegExp(`hash=${cutRecord.hash.slice(0, 12)} n=${cutRecord.n}\\b`));
  // A head past the file's end: the records in the file are delivered, the numbers beyond are seen missing.
  assert.match(JSON.stringify((await chainBroken('head-ahead')).detail), /never delivered|missing/);

  // No agent is locked out: each stays up and delivers its next finding (the spool drains).
  for (const s of subjects) {
    await s.proc!.waitLog((o) => o.msg === 'report sent', 60_000);
    const h = spoolHead(s.a.stateDir).n;
    writeFileSync(join(s.dir, 'after'), 'after the tampering\n');
    await waitFor(() => spoolHead(s.a.stateDir).n > h && spoolLines(s.a.stateDir).length === 1 && delivered(s).includes(`${s.dir}/after`), {
      what: `${s.host} delivering again`,
      timeoutMs: 60_000,
    });
    assert.equal(s.proc!.child.exitCode, null, `${s.host} still running`);
  }
  // Nothing was stored twice.
  for (const s of subjects) {
    const hashes = ledger(server, s.host).map((r) => r.hash);
    assert.equal(new Set(hashes).size, hashes.length, `${s.host}: a record stored twice`);
  }
});
