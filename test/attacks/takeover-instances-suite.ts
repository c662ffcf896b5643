/**
 * A silent takeover across instances, once per engine: two real `serve` processes (alpha, and bravo made by
 * `init --join`) on one SQLite file or one PostgreSQL database, a real agent on alpha whose heartbeats carry
 * the state digest. The intruder copies its key, certificate and boot id, freezes it with SIGSTOP and connects
 * as it to bravo, with a modest sequence and the executable's hash (nothing bravo can judge at the hello).
 * alpha, which holds the frozen agent's connection and knows when it last heard it, names
 * `live-session-superseded`; bravo, which reads that this boot sent digests, names the heartbeats without one
 * and the report never begun: one `agent-impersonated`, its evidence merged, critical from the second sign and
 * sent again then, each event mailed once. The agent's own failover (alpha killed) and its failback stay quiet.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { openServerContext, type ServerContext } from '../../server/context.ts';
import type { EngineName } from '../../server/storage/engine.ts';
import { systemClock } from '../../shared/clock.ts';
import { assertMailedOnce, initPair } from '../e2e/multi-instance-suite.ts';
import { enrollAgent, Proc, ROOT, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { freshPgDatabase, PG_SKIP } from '../helpers/engines.ts';
import { identityOf } from '../helpers/raw-client.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { tempDir } from '../helpers/temp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/** The server's shortest wait for a report a connection owes (takeover-watch.ts REPORT_WAIT_MIN_MS), and some. */
const REPORT_WAIT_MS = 10_000 + 2_000;
const facts = { hostname: 'x', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 };

/** The suite on `engine` (PostgreSQL skipped, saying why, without PGHOST). */
export function takeoverInstancesSuite(engine: EngineName): void {
  const skip = engine === 'postgres' ? PG_SKIP : null;
  if (skip) {
    test(`[${engine}] a takeover across instances`, { skip }, () => {});
    return;
  }
  let dropPg: (() => Promise<void>) | undefined;
  const peer = new SmtpPeer();
  let alpha: TestServer;
  let bravo: TestServer;
  /** alpha's serve process now (restarted on its port after a kill). */
  let alphaProc: Proc;
  let reader: ServerContext;
  const procs: Proc[] = [];

  const hostRow = (host: string) =>
    reader.sql.get<{ bootId: string; lastSeq: number; exe: string | null; instance: string | null; connected: number }>(
      `SELECT boot_id AS "bootId", last_seq AS "lastSeq", exe_sha256 AS exe, instance, connected FROM hosts WHERE host = ?`,
      [host],
    );
  const alarmsOf = async (host: string, kinds: string[]) => (await reader.alarms.list({ host })).filter((a) => kinds.includes(a.kind));
  const impersonated = async (host: string) => (await alarmsOf(host, ['agent-impersonated']))[0];

  before(async () => {
    const smtpPort = await peer.start();
    let database: string | undefined;
    if (engine === 'postgres') {
      const pg = await freshPgDatabase();
      dropPg = pg.drop;
      database = pg.url;
    }
    const { init, bravoDir } = initPair({ grace: '5s', smtpPort, database });
    alpha = await startServer(init);
    alphaProc = alpha.proc;
    bravo = await startServer({ dir: bravoDir, fingerprint: init.fingerprint });
    reader = openServerContext(init.dir, systemClock);
  });

  after(async () => {
    for (const p of procs) {
      p.signal('SIGCONT');
      p.signal('SIGKILL');
    }
    alphaProc?.signal('SIGTERM');
    await bravo?.stop();
    await alphaProc?.exited;
    await peer.stop();
    await reader?.close();
    await dropPg?.();
  });

  /** An agent enrolled through alpha that watches a directory (so its heartbeats carry the digest). */
  function watchedAgent(host: string, servers: string): TestAgent {
    const dir = join(tempDir('tw-takeover-'), 'watched');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'x\n');
    const a = enrollAgent(alpha, host, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${dir}, recursive: true }\n` });
    writeFileSync(a.config, readFileSync(a.config, 'utf8').replace(/^server: .*$/m, servers));
    return a;
  }

  /** Starts the agent; resolves once its boot is recorded as one that sends digests and it is held by `instance`. */
  async function upAgent(a: TestAgent, instance: string): Promise<{ proc: Proc; bootId: string }> {
    const proc = runAgent(a);
    procs.push(proc);
    const bootId = String((await proc.waitLog((o) => o.msg === 'agent started', 30_000)).bootId);
    await waitFor(async () => (await reader.sql.get<{ b: string }>('SELECT boot_id AS b FROM digest_boots WHERE host = ?', [a.host]))?.b === bootId, {
      what: 'the boot recorded as sending digests',
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await hostRow(a.host))?.instance === instance, { what: `${a.host} held by ${instance}`, timeoutMs: 30_000 });
    await sleep(2_000); // a few more heartbeats with the digest
    return { proc, bootId };
  }

  test(`[${engine}] the agent frozen on alpha, its identity connecting to bravo: one agent-impersonated naming live-session-superseded, merged with bravo's signs`, async () => {
    const a = watchedAgent('atk-across', `server: ${alpha.url}`);
    const { proc, bootId } = await upAgent(a, 'alpha');
    const row = (await hostRow(a.host))!;
    assert.ok(row.exe, 'the agent sent its executable hash');
    proc.signal('SIGSTOP');
    // The intruder: the agent's files and boot id, a sequence a little past its own, its executable's hash.
    const id = identityOf(a.stateDir);
    const ws = new WebSocket(`wss://127.0.0.1:${bravo.port}/agent`, { key: id.key, cert: id.cert, ca: id.ca, rejectUnauthorized: true });
    const frames: { type: string; reason?: string }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
    });
    let seq = Number(row.lastSeq) + 20;
    ws.send(JSON.stringify({ type: 'hello', bootId, seq, sentAt: Date.now(), protocol: 1, agentVersion: '0.1.0', interval: 1000, facts, exeSha256: row.exe }));
    await waitFor(() => frames.some((f) => f.type === 'welcome'), { what: 'the intruder welcomed on bravo' });
    // It keeps the host up, but sends no digest and begins no report.
    const beat = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', bootId, seq: ++seq, sentAt: Date.now() })), 1000);
    try {
      await alpha.proc.waitLog((o) => o.msg === 'closed a connection the agent left for another instance', 10_000);
      const all = await waitFor(
        async () => {
          const x = await impersonated(a.host);
          return x && (x.detail as { evidence: string[] }).evidence.includes('report-unanswered') ? x : undefined;
        },
        { timeoutMs: REPORT_WAIT_MS + 15_000, what: 'every sign merged' },
      );
      const d = all.detail as { evidence: string[]; bootId: string } & Record<string, { instance?: string; remotes?: string[] }>;
      // alpha under the machine's load may have stalled itself: then, and only then, it does not judge the frozen
      // connection live (takeover-watch.ts supersededWhileHeard).
      const stalled = alpha.proc.lines.some((l) => l.includes('server behind'));
      if (stalled && !d.evidence.includes('live-session-superseded')) console.log(`# [${engine}] alpha stalled under load: live-session-superseded not judged`);
      else {
        assert.ok(d.evidence.includes('live-session-superseded'), JSON.stringify(d));
        assert.equal(d['live-session-superseded']!.instance, 'bravo', 'names the instance the newcomer connected to');
        assert.equal(d['live-session-superseded']!.remotes!.length, 1);
      }
      assert.ok(d.evidence.includes('no-state-digest') && d.evidence.includes('report-unanswered'), JSON.stringify(d.evidence));
      assert.ok(!d.evidence.includes('sequence-jump') && !d.evidence.includes('no-exe-hash'), 'nothing to judge at the hello itself');
      assert.equal(d.bootId, bootId);
      assert.equal(all.severity, 'critical');
      assert.ok(
        frames.some((f) => f.type === 'request-report' && f.reason === 'identity check'),
        'bravo asked the intruder for a report',
      );
      assert.equal((await alarmsOf(a.host, ['agent-impersonated'])).length, 1, 'one alarm');
      const opens = await reader.sql.all<{ id: number }>(`SELECT e.id FROM alarm_events e WHERE e.alarm_id = ? AND e.action = 'open'`, [all.id]);
      assert.equal(opens.length, 2, 'opened as a warning, sent again when it rose to critical');
      assert.deepEqual(await alarmsOf(a.host, ['identity-clone', 'replay']), [], 'the same boot moving is no clone');
    } finally {
      clearInterval(beat);
      ws.terminate();
      proc.signal('SIGCONT');
      proc.signal('SIGKILL');
    }
  });

  test(`[${engine}] the agent's own failover (alpha killed) and failback stay quiet: digests and the report on each welcome, as always`, async () => {
    const a = watchedAgent('calm-move', `server: [${alpha.url}, ${bravo.url}]\nfailback: 3s`);
    await upAgent(a, 'alpha');
    alphaProc.signal('SIGKILL');
    await alphaProc.exited;
    await waitFor(async () => (await hostRow(a.host))?.instance === 'bravo' && (await hostRow(a.host))?.connected === 1, { what: 'the agent on bravo', timeoutMs: 15_000 });
    await sleep(REPORT_WAIT_MS); // past the report bravo is owed
    assert.equal(await impersonated(a.host), undefined, 'the failover is quiet');

    alphaProc = await serveAlpha(alpha.dir, alpha.port);
    await waitFor(async () => (await hostRow(a.host))?.instance === 'alpha' && (await hostRow(a.host))?.connected === 1, { what: 'the agent back on alpha', timeoutMs: 30_000 });
    await sleep(REPORT_WAIT_MS);
    assert.deepEqual(await alarmsOf(a.host, ['agent-impersonated', 'identity-clone', 'replay', 'agent-missing', 'agent-disconnected']), [], 'the failback is quiet');
  });

  test(`[${engine}] every alarm event was mailed once, by one instance or the other`, async () => {
    assert.ok((await assertMailedOnce(reader.sql, peer)) >= 2);
  });
}

/** alpha's `serve` again on its port (its agents' URL names it). */
async function serveAlpha(dir: string, port: number): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'serve', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--dashboard', '127.0.0.1:0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new Proc(child);
  await p.waitLog((o) => o.msg === 'serving', 30_000);
  return p;
}
