/**
 * The database restarted under load: two real `serve` instances on a PostgreSQL cluster of the test's own
 * (pg-cluster.ts), three real agents split between them, guarded files changing before, during and after the
 * outage, mail to a real SMTP peer. PostgreSQL is restarted (`pg_ctl restart -m fast`), then stopped for 5 s
 * and started, then stopped for longer than the agents' deadline. Both serve processes stay up and renew their
 * leases, no instance is declared down and no agent missing (an outage holds deadlines as a stall of each
 * instance), every change ends up stored as its alarm (the agents' spools are acknowledged to their heads, the
 * stored chain has no hole), each alarm is mailed once, and the servers log TW_DB_UNAVAILABLE, not stacks.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openServerContext, type ServerContext } from '../../server/context.ts';
import { listInstances } from '../../server/liveness/instance-lease.ts';
import { systemClock } from '../../shared/clock.ts';
import { enrollAgent, type Proc, runAgent, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { PG_CLUSTER_SKIP, PgCluster } from '../helpers/pg-cluster.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { spoolHead } from '../helpers/spool.ts';
import { tempDir } from '../helpers/temp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { assertMailedOnce, initPair } from './multi-instance-suite.ts';

const opts = PG_CLUSTER_SKIP ? { skip: PG_CLUSTER_SKIP } : {};
const AGENTS = 3;
/** Guarded files per agent, per case. */
const FILES = 12;
/** The cases that change files. */
const CASES = 3;
/** The agents' deadline: twice their 1 s interval plus the 20 s grace. */
const DEADLINE_MS = 22_000;
/** Between two file changes (round robin over the agents), ms. */
const CHANGE_EVERY_MS = 150;
const LIVENESS_KINDS = ['agent-missing', 'agent-disconnected', 'replay', 'identity-clone', 'agent-tampered'];

let cluster: PgCluster | undefined;
const peer = new SmtpPeer();
let alpha: TestServer;
let bravo: TestServer;
let reader: ServerContext | undefined;
const agents: { a: TestAgent; proc: Proc; files: string[] }[] = [];
/** Every file changed so far, with its host. */
const changed: { host: string; path: string }[] = [];

before(async () => {
  if (PG_CLUSTER_SKIP) return;
  cluster = await PgCluster.create();
  const smtpPort = await peer.start();
  // grace 20s, as in the two-instance suite: the agents' 1 s interval, the lease's 10 s timeout.
  const { init, bravoDir } = initPair({ grace: '20s', smtpPort, database: cluster.url() });
  alpha = await startServer(init);
  bravo = await startServer({ dir: bravoDir, fingerprint: init.fingerprint });
  for (let i = 0; i < AGENTS; i++) {
    const host = `db-restart-${i}`;
    const guarded = join(tempDir('tw-guarded-'), 'etc');
    mkdirSync(guarded);
    const files = Array.from({ length: CASES * FILES }, (_, k) => join(guarded, `f${String(k).padStart(2, '0')}.conf`));
    for (const f of files) writeFileSync(f, 'setting = 1\n');
    const a = enrollAgent(alpha, host, { extra: `watch:\n  - { path: ${guarded}, critical: true }\n` });
    // Agents 0 and 2 prefer alpha, agent 1 bravo: both instances hold agents.
    const list = i % 2 ? [bravo.url, alpha.url] : [alpha.url, bravo.url];
    writeFileSync(a.config, readFileSync(a.config, 'utf8').replace(/^server: .*$/m, `server: [${list.join(', ')}]\nfailback: 3s`));
    agents.push({ a, proc: runAgent(a), files });
  }
  // Opened after the enrolments: their CLI runs block this process for seconds, long enough for a
  // connection being set up meanwhile to time out.
  reader = openServerContext(alpha.dir, systemClock);
  await reader.sql.ready();
  await waitFor(
    async () =>
      (await reader!.sql.all<{ host: string }>(`SELECT b.host FROM baseline_hosts b JOIN hosts h ON h.host = b.host WHERE h.connected = 1 AND h.status = 'up'`)).length === AGENTS,
    { what: 'every agent up with its baseline', timeoutMs: 60_000 },
  );
});

after(async () => {
  for (const x of agents) x.proc.signal('SIGKILL');
  await Promise.all([alpha?.stop(), bravo?.stop()]);
  await peer.stop();
  await reader?.close().catch(() => {});
  await cluster?.close();
});

/** Changes the given files one after another, `CHANGE_EVERY_MS` apart, round robin over the agents. */
async function changeFiles(from: number, to: number): Promise<void> {
  for (let k = from; k < to; k++) {
    for (const x of agents) {
      appendFileSync(x.files[k]!, `changed ${Date.now()}\n`);
      changed.push({ host: x.a.host, path: x.files[k]! });
      await sleep(CHANGE_EVERY_MS);
    }
  }
}

/** Waits until both leases are renewed after `since` (ms since the epoch); returns when that was seen. */
async function bothRenewedAfter(since: number): Promise<number> {
  await waitFor(
    async () => {
      const rows = await listInstances(reader!.sql, Date.now());
      return rows.length === 2 && rows.every((r) => r.status === 'up' && Date.parse(r.lastSeen) > since);
    },
    { what: 'both instances renewed their leases', timeoutMs: 30_000, everyMs: 100 },
  );
  return Date.now();
}

/** Every file changed so far has its one file-changed alarm; every agent's spool is acknowledged to its head. */
async function everythingStored(): Promise<void> {
  await waitFor(
    async () => {
      const rows = await reader!.sql.all<{ host: string; subject: string }>(`SELECT host, subject FROM alarms WHERE kind = 'file-changed'`);
      const have = new Set(rows.map((r) => `${r.host} ${r.subject}`));
      return changed.every((c) => have.has(`${c.host} ${c.path}`));
    },
    { what: 'an alarm for every change', timeoutMs: 60_000, everyMs: 250 },
  );
  for (const x of agents) {
    await waitFor(
      async () => {
        const head = spoolHead(x.a.stateDir).n;
        const c = await reader!.sql.get<{ n: number }>('SELECT acked_n AS n FROM spool_chains WHERE host = ?', [x.a.host]);
        return c !== undefined && c.n >= head;
      },
      { what: `${x.a.host}'s spool acknowledged to its head`, timeoutMs: 30_000, everyMs: 250 },
    );
  }
}

/** The close codes the agents saw so far, counted (the agents' view of a server whose database is down). */
function agentCloses(): string {
  const n = new Map<string, number>();
  for (const x of agents) {
    for (const l of x.proc.lines) {
      if (!l.includes('"disconnected"')) continue;
      const o = JSON.parse(l) as { code?: number; reason?: string };
      const k = `${o.code} ${o.reason ?? ''}`.trim();
      n.set(k, (n.get(k) ?? 0) + 1);
    }
  }
  return JSON.stringify(Object.fromEntries(n));
}

/** The checks every case ends with. */
async function assertRecovered(label: string): Promise<void> {
  for (const s of [alpha, bravo]) assert.equal(s.proc.child.exitCode, null, `${label}: serve ${s.dir} still runs (${s.proc.describe()})`);
  const rows = await reader!.sql.all<{ host: string; subject: string; n: number }>(
    `SELECT host, subject, COUNT(*) AS n FROM alarms WHERE kind = 'file-changed' GROUP BY host, subject`,
  );
  assert.equal(rows.length, changed.length, `${label}: one alarm per changed file`);
  assert.ok(
    rows.every((r) => r.n === 1),
    `${label}: none twice`,
  );
  const counts: string[] = [];
  // The stored chain of each agent: every record from 1 to its head, once (a record dropped by the agent
  // after an ack that was not a commit would leave a hole, and agent-tampered).
  for (const x of agents) {
    const ns = (await reader!.sql.all<{ n: number }>('SELECT n FROM spool_records WHERE host = ? ORDER BY n', [x.a.host])).map((r) => r.n);
    assert.deepEqual(
      ns,
      Array.from({ length: ns.length }, (_, i) => i + 1),
      `${label}: ${x.a.host}'s records contiguous from 1`,
    );
    assert.ok(ns.length >= spoolHead(x.a.stateDir).n, `${label}: up to the agent's head`);
    counts.push(`${x.a.host} ${spoolHead(x.a.stateDir).n} spooled/${ns.length} stored`);
  }
  console.log(`# ${label}: records ${counts.join(', ')}`);
  const bad = await reader!.sql.all<{ host: string; kind: string }>(
    `SELECT host, kind FROM alarms WHERE kind IN (${LIVENESS_KINDS.map(() => '?').join(', ')}) OR kind = 'server-instance-down'`,
    LIVENESS_KINDS,
  );
  assert.deepEqual(bad, [], `${label}: no agent-missing, agent-disconnected, replay, clone, tampering, server-instance-down`);
}

/** The serve processes' output: TW_DB_UNAVAILABLE lines seen, no stack trace. */
function assertLogs(label: string): void {
  const lines = [...alpha.proc.lines, ...bravo.proc.lines];
  assert.ok(
    lines.some((l) => l.includes('TW_DB_UNAVAILABLE')),
    `${label}: the outage logged as TW_DB_UNAVAILABLE`,
  );
  const stacks = lines.filter((l) => /^\s+at |"stack":|\n\s+at /.test(l));
  assert.deepEqual(stacks, [], `${label}: no stack traces`);
  // Agents dialling in while the database is down: its catalogued line (throttled), not one error per agent.
  const refused = lines.filter((l) => l.includes('"agent connection failed"'));
  assert.deepEqual(refused, [], `${label}: connections refused for the database said so as TW_DB_UNAVAILABLE`);
}

test('PostgreSQL restarted (pg_ctl restart -m fast) under load: both instances recover, nothing acked lost', opts, async () => {
  const writing = changeFiles(0, FILES / 2);
  await sleep(1_500);
  const t0 = Date.now();
  await cluster!.restart();
  const up = Date.now();
  await writing;
  await changeFiles(FILES / 2, FILES);
  const renewed = await bothRenewedAfter(up);
  await everythingStored();
  console.log(`# restart: database down for ${up - t0} ms (pg_ctl restart); both leases renewed ${renewed - up} ms after; ${changed.length} changes, all stored as alarms`);
  console.log(`# restart: agents' disconnects meanwhile: ${agentCloses()}`);
  await assertRecovered('restart');
  assertLogs('restart');
});

test('PostgreSQL down for 5 s under load: both instances recover, no instance declared down, nothing acked lost', opts, async () => {
  const writing = changeFiles(FILES, FILES + FILES / 2);
  await sleep(1_500);
  const t0 = Date.now();
  await cluster!.stop();
  const down = Date.now();
  await sleep(5_000);
  await cluster!.start();
  const up = Date.now();
  await writing;
  await changeFiles(FILES + FILES / 2, 2 * FILES);
  const renewed = await bothRenewedAfter(up);
  await everythingStored();
  console.log(
    `# outage: database down ${up - down} ms (stop took ${down - t0} ms); both leases renewed ${renewed - up} ms after; ${changed.length} changes in all, stored as alarms`,
  );
  console.log(`# outage: agents' disconnects so far: ${agentCloses()}`);
  await assertRecovered('outage');
  assertLogs('outage');
});

test("PostgreSQL down for longer than the agents' deadline: no agent declared missing, both instances recover, nothing acked lost", opts, async () => {
  const writing = changeFiles(2 * FILES, 2 * FILES + FILES / 2);
  await sleep(1_500);
  await cluster!.stop();
  const down = Date.now();
  await sleep(DEADLINE_MS + 8_000);
  await cluster!.start();
  const up = Date.now();
  await writing;
  await changeFiles(2 * FILES + FILES / 2, 3 * FILES);
  const renewed = await bothRenewedAfter(up);
  await everythingStored();
  await waitFor(async () => (await reader!.sql.all(`SELECT host FROM hosts WHERE status = 'up' AND connected = 1`)).length === AGENTS, {
    what: 'every agent up and connected after the long outage',
    timeoutMs: 60_000,
    everyMs: 250,
  });
  // Past the deadline counted from the return: an agent-missing opened by the sweeps after it would be here.
  await sleep(Math.max(0, up + DEADLINE_MS - Date.now()));
  console.log(`# long outage: database down ${up - down} ms (deadline ${DEADLINE_MS} ms); both leases renewed ${renewed - up} ms after; ${changed.length} changes in all`);
  console.log(`# long outage: agents' disconnects so far: ${agentCloses()}`);
  await assertRecovered('long outage');
  assertLogs('long outage');
});

test('every alarm opening and resolution was mailed once, across the outages', opts, async () => {
  const n = await assertMailedOnce(reader!.sql, peer).catch((err: Error) => {
    const outbox = [...alpha.proc.lines, ...bravo.proc.lines].filter((l) => /outbox|notice/.test(l)).slice(-20);
    throw new Error(`${err.message}\n${outbox.join('\n')}`);
  });
  assert.ok(n >= changed.length, `at least one mail per change (${n})`);
});
