/**
 * No single point of silence, once per engine: two real `serve` processes (alpha, and bravo made by
 * `init --join`) on one SQLite file or one PostgreSQL database, a real agent whose `server:` lists both, mail to a real SMTP peer. Killing (kill -9) or
 * freezing (SIGSTOP) the instance that holds the agent moves it to the other within seconds, with no
 * agent-missing and one server-instance-down, resolved when the instance is back; an alarm burst while both
 * run is stored once and mailed once; a command written through either data dir reaches the agent wherever
 * it is.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openServerContext, type ServerContext } from '../../server/context.ts';
import type { EngineName, SqlDb } from '../../server/storage/engine.ts';
import { walWriteLockHolder } from '../../server/storage/sqlite-lock-holder.ts';
import { systemClock } from '../../shared/clock.ts';
import { CloseCode } from '../../shared/protocol.ts';
import { enrollAgent, initServer, keepLogsOnFailure, Proc, ROOT, runAgent, serverCli, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { freshPgDatabase, PG_SKIP } from '../helpers/engines.ts';
import { identityOf, rawConnect } from '../helpers/raw-client.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Two data dirs on one store: alpha (made by `init`, instance `alpha`, mail to an SMTP peer on `smtpPort`) and
 * bravo (made by `init --join`), on alpha's SQLite file or, given `database`, that PostgreSQL URL.
 */
export function initPair(o: { grace: string; smtpPort: number; database?: string }): { init: { dir: string; fingerprint: string }; bravoDir: string } {
  const init = initServer({ grace: o.grace });
  const cfg = join(init.dir, 'server.yml');
  const smtp = `smtp:\n  host: 127.0.0.1\n  port: ${o.smtpPort}\n  secure: false\n  from: tripwarden@test.example\n  to: security@test.example`;
  writeFileSync(
    cfg,
    readFileSync(cfg, 'utf8')
      .replace(/^smtp: null$/m, smtp)
      .replace(/^instance: .*$/m, 'instance: alpha'),
  );
  if (o.database) {
    writeFileSync(
      cfg,
      `${readFileSync(cfg, 'utf8')
        .replace(/^database: .*\n/m, '')
        .replace(/\n?$/, '\n')}database: ${o.database}\n`,
    );
  }
  const bravoDir = join(tempDir('tw-srv-'), 'data');
  const j = serverCli(['init', '--dir', bravoDir, '--join', init.dir, '--instance', 'bravo']);
  assert.equal(j.code, 0, j.stderr);
  assert.match(j.stdout, o.database ? /as instance bravo, sharing the database postgres:/ : /as instance bravo, sharing the database .*tripwarden\.db/);
  return { init, bravoDir };
}

/**
 * Waits until the mail outbox is drained, then asserts that every alarm opening and resolution stored was
 * mailed exactly once (by whichever instance); returns how many events that was.
 */
export async function assertMailedOnce(sql: SqlDb, peer: SmtpPeer, timeoutMs = 120_000): Promise<number> {
  await waitFor(async () => (await sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = 'mail' AND state != 'sent'`))!.n === 0, {
    what: 'mail outbox drained',
    timeoutMs,
  }).catch(async (err: Error) => {
    const left = await sql.all(`SELECT state, COUNT(*) AS n, MAX(last_error) AS error FROM deliveries WHERE channel = 'mail' GROUP BY state`);
    const stuck = await sql.all(`SELECT event_id, claimed_by, claimed_at, attempts, next_attempt_at FROM deliveries WHERE channel = 'mail' AND state != 'sent' LIMIT 5`);
    throw new Error(`${err.message}: ${JSON.stringify(left)}; ${JSON.stringify(stuck)}; ${peer.received.length} mails received`);
  });
  const events = await sql.all<{ id: number; action: string }>('SELECT e.alarm_id AS id, e.action FROM alarm_events e ORDER BY e.id');
  const mailed = new Map<string, number>();
  const count = (k: string) => mailed.set(k, (mailed.get(k) ?? 0) + 1);
  for (const m of peer.received) {
    const id = m.headers.get('x-tripwarden-alarm');
    if (id) count(`${id}:${m.headers.get('x-tripwarden-action')}`);
    else for (const x of (m.text ?? '').matchAll(/#(\d+) (OPEN|RESOLVED)/g)) count(`${x[1]}:${x[2] === 'OPEN' ? 'open' : 'resolve'}`);
  }
  // An alarm raised again (its severity rose) has a second open event, mailed again: counted per id and action.
  const want = new Map<string, number>();
  for (const e of events) want.set(`${e.id}:${e.action}`, (want.get(`${e.id}:${e.action}`) ?? 0) + 1);
  assert.deepEqual([...mailed.keys()].sort(), [...want.keys()].sort(), 'every event mailed');
  assert.deepEqual(
    [...mailed].filter(([k, n]) => n !== want.get(k)),
    [],
    'and none twice',
  );
  return events.length;
}

/** alpha's preload: SIGUSR2 makes it stop inside its next write transaction. */
const STOP_IN_TX = ['--import', join(ROOT, 'test/helpers/stop-in-transaction.ts')];

/** The suite on `engine` (PostgreSQL skipped, saying why, without PGHOST). */
export function multiInstanceSuite(engine: EngineName): void {
  const skip = engine === 'postgres' ? PG_SKIP : null;
  const opts = skip ? { skip } : {};
  if (skip) {
    test(`[${engine}] two instances`, opts, () => {});
    return;
  }
  let dropPg: (() => Promise<void>) | undefined;
  const peer = new SmtpPeer();
  let alpha: TestServer;
  let bravo: TestServer;
  let alphaDir: string;
  /** The serve process of alpha now (restarted on its port after a kill). */
  let alphaProc: Proc;
  let agent: Proc;
  const HOST = 'mike';

  /** A test body whose failure keeps both servers' and the agent's logs. */
  const logged = (fn: () => Promise<void>) => () => keepLogsOnFailure(() => ({ alpha: alphaProc, bravo: bravo?.proc, agent }), fn);

  /** One reader on the shared store for the whole suite (on PostgreSQL a context per poll is a pool per poll). */
  let reader: ServerContext | undefined;
  const read = async <T>(fn: (c: ServerContext) => Promise<T> | T): Promise<T> => fn(reader!);

  const held = () => read(async (c) => await c.hosts.get(HOST));
  const alarmsOf = (host: string, kind: string) => read(async (c) => (await c.alarms.list({ host })).filter((a) => a.kind === kind));
  const liveness = () =>
    read(async (c) =>
      (await c.alarms.list({ host: HOST })).filter((a) => ['agent-missing', 'agent-disconnected', 'replay', 'identity-clone', 'agent-impersonated'].includes(a.kind)),
    );

  /** alpha's `serve` on a given port (its agents' URL names it). */
  async function serveAlpha(port: number): Promise<Proc> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', ...STOP_IN_TX, join(ROOT, 'server/main.ts'), 'serve', '--dir', alphaDir, '--listen', `127.0.0.1:${port}`, '--dashboard', '127.0.0.1:0'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const p = new Proc(child);
    await p.waitLog((o) => o.msg === 'serving', 60_000);
    return p;
  }

  before(async () => {
    const smtpPort = await peer.start();
    let database: string | undefined;
    if (engine === 'postgres') {
      const pg = await freshPgDatabase();
      dropPg = pg.drop;
      database = pg.url;
    }
    // grace 20s: the agent's 1 s interval makes its half-open detection (6 intervals) fast, while the lease
    // timeout stays 10 s; 20 s keeps the two in the proportion the defaults have (10 s interval, 5 s grace).
    const { init, bravoDir } = initPair({ grace: '20s', smtpPort, database });
    alphaDir = init.dir;
    alpha = await startServer(init, STOP_IN_TX);
    alphaProc = alpha.proc;
    bravo = await startServer({ dir: bravoDir, fingerprint: init.fingerprint });
    reader = openServerContext(alphaDir, systemClock);
    assert.equal(reader.sql.engine, engine);
  });

  after(async () => {
    agent?.signal('SIGKILL');
    alphaProc?.signal('SIGCONT');
    alphaProc?.signal('SIGTERM');
    await bravo?.stop();
    await alphaProc?.exited;
    await peer.stop();
    await reader?.close();
    await dropPg?.();
  });

  test(
    `[${engine}] instances lists both, up`,
    opts,
    logged(async () => {
      const r = await waitFor(
        () => {
          const out = serverCli(['instances', '--dir', bravo.dir, '--json']);
          const rows = JSON.parse(out.stdout) as { name: string; status: string; lastSeen: string; agents: number }[];
          return rows.length === 2 && rows.every((x) => x.status === 'up') ? rows : undefined;
        },
        { what: 'two instances up', timeoutMs: 20_000 },
      );
      assert.deepEqual(
        r.map((x) => x.name),
        ['alpha', 'bravo'],
      );
      assert.ok(r.every((x) => typeof x.lastSeen === 'string' && typeof x.agents === 'number'));
    }),
  );

  test(
    `[${engine}] an alarm burst while both run: every status change written once, every alarm stored once`,
    opts,
    logged(async () => {
      // Thirty agents past their deadline at once (as when a rack loses power), held half by each instance:
      // both sweeps find them in the same ticks.
      const now = Date.now();
      await reader!.sql.tx(async (tx) => {
        for (let i = 0; i < 30; i++) {
          await tx.run(
            `INSERT INTO hosts (host, grp, state, status, cert_serial, enrolled_at, interval_ms, last_seen, late_at, due_at, boot_id, last_seq, instance)
           VALUES (?, 'default', 'active', 'up', 'AA', ?, 1000, ?, ?, ?, 'b', 1, ?)`,
            [`burst-${i}`, now - 60_000, now - 500, now - 300, now - 100, i % 2 ? 'alpha' : 'bravo'],
          );
        }
      });
      await waitFor(() => read(async (c) => (await c.hosts.all()).filter((h) => h.host.startsWith('burst-') && h.status === 'missing').length === 30), {
        what: 'thirty hosts missing',
        timeoutMs: 20_000,
      });
      const rows = await reader!.sql.all<{ host: string; alarms: number; events: number }>(
        `SELECT a.host, COUNT(DISTINCT a.id) AS alarms, COUNT(e.id) AS events FROM alarms a JOIN alarm_events e ON e.alarm_id = a.id
       WHERE a.host LIKE 'burst-%' AND a.kind = 'agent-missing' GROUP BY a.host`,
      );
      assert.equal(rows.length, 30);
      assert.ok(
        rows.every((r) => r.alarms === 1 && r.events === 1),
        JSON.stringify(rows.filter((r) => r.alarms !== 1 || r.events !== 1)),
      );
    }),
  );

  test(
    `[${engine}] kill -9 of the instance holding the agent: up on the other within seconds, no agent-missing, server-instance-down once`,
    opts,
    logged(async () => {
      const a = enrollAgent(alpha, HOST, { interval: '1s', jitter: '100ms' });
      const text = readFileSync(a.config, 'utf8').replace(/^server: .*$/m, `server: [${alpha.url}, ${bravo.url}]\nfailback: 3s`);
      writeFileSync(a.config, text);
      agent = runAgent(a);
      await waitFor(async () => (await held())?.status === 'up' && (await held())?.instance === 'alpha' && (await held())?.connected, {
        what: 'agent up on alpha',
        timeoutMs: 30_000,
      });

      alphaProc.signal('SIGKILL');
      await alphaProc.exited;
      const killedAt = Date.now();
      await waitFor(async () => (await held())?.instance === 'bravo' && (await held())?.connected && (await held())?.status === 'up', {
        what: 'agent up on bravo',
        timeoutMs: 15_000,
      });
      const moved = Date.now() - killedAt;
      console.log(`# [${engine}] failover after kill -9: up on bravo ${moved} ms after the kill`);
      assert.ok(moved < 5_000, `up on the other instance within a few seconds (${moved} ms)`);

      await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).length === 1, { what: 'server-instance-down for alpha', timeoutMs: 30_000 });
      const i = JSON.parse(serverCli(['instances', '--dir', bravo.dir, '--json']).stdout) as { name: string; status: string }[];
      assert.equal(i.find((x) => x.name === 'alpha')!.status, 'down');
      assert.deepEqual(await liveness(), [], 'no agent-missing, agent-disconnected or replay');

      // alpha comes back on its port: its lease renews (the alarm resolves) and after failback the agent returns.
      alphaProc = await serveAlpha(alpha.port);
      await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down'))[0]?.resolvedAt, { what: 'server-instance-down resolved', timeoutMs: 15_000 });
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent back on alpha', timeoutMs: 20_000 });
      assert.equal((await alarmsOf('alpha', 'server-instance-down')).length, 1, 'raised once');
      assert.deepEqual(await liveness(), [], 'the move back (MOVING) raised nothing');
    }),
  );

  /** The scheduler state of a process (`T`: stopped by a signal), from /proc. */
  const stateOf = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      return undefined;
    }
  };

  /**
   * SIGSTOP of alpha where it holds no write lock (SQLite: stopped again, after a SIGCONT, while it holds the
   * file's; PostgreSQL: no file lock, stopped once).
   */
  async function stopOutsideTransaction(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      alphaProc.signal('SIGSTOP');
      await waitFor(() => stateOf(alphaProc.pid) === 'T', { what: 'alpha stopped', everyMs: 5 });
      if (engine !== 'sqlite' || walWriteLockHolder(join(alphaDir, 'tripwarden.db')) !== alphaProc.pid) return;
      alphaProc.signal('SIGCONT');
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('alpha held the write lock at each of 100 stops');
  }

  test(
    `[${engine}] SIGSTOP of the instance holding the agent, outside a transaction (sockets held, nothing answered): the same, and resumed it takes the agent back`,
    opts,
    logged(async () => {
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent on alpha', timeoutMs: 20_000 });
      await stopOutsideTransaction();
      const stoppedAt = Date.now();
      try {
        await waitFor(async () => (await held())?.instance === 'bravo' && (await held())?.status === 'up', { what: 'agent up on bravo', timeoutMs: 30_000 });
        console.log(`# [${engine}] failover after SIGSTOP: up on bravo ${Date.now() - stoppedAt} ms after the stop`);
        await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).length === 2, { what: 'a second server-instance-down for alpha', timeoutMs: 30_000 });
        assert.equal((await alarmsOf('alpha', 'server-instance-down'))[0]!.resolvedAt, null, 'the new one open');
        assert.deepEqual(await liveness(), []);
        assert.equal(stateOf(alphaProc.pid), 'T', 'alpha is left stopped: it holds no lock');
      } finally {
        alphaProc.signal('SIGCONT');
      }
      // Resumed, alpha reads what was left in the agent's old socket and finds it closed: stale, not a replay
      // nor a disconnect; its renewal resolves the alarm.
      await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).every((a) => a.resolvedAt), { what: 'resolved after SIGCONT', timeoutMs: 20_000 });
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent back on alpha after failback', timeoutMs: 20_000 });
      assert.deepEqual(await liveness(), [], 'no agent-missing, agent-disconnected or replay');
      assert.equal((await alarmsOf('alpha', 'server-instance-down')).length, 2);
    }),
  );

  test(
    `[${engine}] SIGSTOP inside a write transaction, the SQLite file's write lock held: the other instance ends it (SIGKILL) once its lease lapsed, the agent moves, server-instance-down once; restarted, it takes the agent back`,
    engine === 'sqlite' ? opts : { skip: 'SQLite only: PostgreSQL has no lock on the whole store that a stopped instance could hold' },
    logged(async () => {
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent on alpha', timeoutMs: 20_000 });
      const before = (await alarmsOf('alpha', 'server-instance-down')).length;
      const pid = alphaProc.pid;
      // The preload (stop-in-transaction.ts) stops alpha right after its next BEGIN IMMEDIATE.
      alphaProc.signal('SIGUSR2');
      await waitFor(() => stateOf(pid) === 'T', { what: 'alpha stopped', everyMs: 5 });
      assert.equal(walWriteLockHolder(join(alphaDir, 'tripwarden.db')), pid, 'alpha is stopped holding the write lock');
      const stoppedAt = Date.now();
      await waitFor(() => alphaProc.child.signalCode === 'SIGKILL', { what: 'alpha ended by bravo', timeoutMs: 60_000 });
      console.log(`# [${engine}] alpha stopped holding the write lock was ended by bravo ${Date.now() - stoppedAt} ms after the stop`);
      const line = await bravo.proc.waitLog((o) => o.instance === 'alpha' && String(o.msg).startsWith('instance stopped while holding the database write lock'));
      assert.equal(line.pid, pid);
      await waitFor(async () => (await held())?.instance === 'bravo' && (await held())?.status === 'up', { what: 'agent up on bravo', timeoutMs: 30_000 });
      console.log(`# [${engine}] failover after SIGSTOP inside a transaction: up on bravo ${Date.now() - stoppedAt} ms after the stop`);
      await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).length === before + 1, { what: 'server-instance-down for alpha', timeoutMs: 30_000 });
      const down = (await alarmsOf('alpha', 'server-instance-down'))[0]!;
      assert.equal(down.resolvedAt, null);
      assert.deepEqual((down.detail as { ended?: unknown }).ended, { pid, why: 'stopped while holding the database write lock' });
      assert.deepEqual(await liveness(), [], 'no agent-missing, agent-disconnected or replay');

      // Its service manager restarts it (Restart=on-failure); here the test does.
      alphaProc = await serveAlpha(alpha.port);
      await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).every((a) => a.resolvedAt), { what: 'resolved after the restart', timeoutMs: 20_000 });
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent back on alpha after failback', timeoutMs: 20_000 });
      assert.equal((await alarmsOf('alpha', 'server-instance-down')).length, before + 1, 'raised once');
      assert.deepEqual(await liveness(), []);
    }),
  );

  test(
    `[${engine}] a command written through the other instance reaches the agent where it is held: accept gets a fresh report, revoke closes its socket within 2 s`,
    opts,
    logged(async () => {
      await waitFor(async () => (await held())?.instance === 'alpha' && (await held())?.connected, { what: 'agent on alpha' });
      // bravo does not hold the host and must not answer `offline`: alpha sends the request and the report arrives.
      const acc = serverCli(['accept', HOST, '--dir', bravo.dir]);
      assert.equal(acc.code, 0, acc.stderr);
      assert.match(acc.stdout, /^accepting the fresh report of mike, stored /m);
      const r = serverCli(['revoke', HOST, '--dir', bravo.dir]);
      assert.equal(r.code, 0, r.stderr);
      const closed = await agent.waitLog((o) => o.msg === 'disconnected' && o.code === CloseCode.REVOKED, 10_000);
      const queuedAt = (await reader!.sql.get<{ at: number }>(`SELECT created_at AS at FROM commands WHERE action = 'close-host' AND host = ? ORDER BY id DESC`, [HOST]))!.at;
      const took = Date.parse(String(closed.time)) - queuedAt;
      console.log(`# [${engine}] revoke written through bravo's data dir closed the agent's socket on alpha ${took} ms later`);
      assert.ok(took < 2_000, `within 2 s (${took} ms)`);
    }),
  );

  test(
    `[${engine}] a connection of the same boot on the other instance: the old instance closes its socket within 2 s, and calls it no clone`,
    opts,
    logged(async () => {
      const a = enrollAgent(alpha, 'oscar');
      const id = identityOf(a.stateDir);
      const boot = randomUUID();
      const hello = (seq: number) =>
        JSON.stringify({
          type: 'hello',
          bootId: boot,
          seq,
          sentAt: Date.now(),
          protocol: 1,
          agentVersion: 't',
          interval: 1000,
          facts: { hostname: 'oscar', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 },
        });
      // The old connection says hello on alpha and then nothing (a socket alpha still holds when the agent moves).
      const old = rawConnect(alpha.port, { ...id, send: [hello(0)], waitMs: 20_000 });
      await waitFor(async () => (await read((c) => c.hosts.get('oscar')))?.instance === 'alpha', { what: 'oscar held by alpha' });
      const movedAt = Date.now();
      const moved = rawConnect(bravo.port, { ...id, send: [hello(1)], waitMs: 8_000 });
      const o = await old;
      const took = Date.now() - movedAt;
      console.log(`# [${engine}] alpha closed the connection the agent left for bravo ${took} ms after its hello there`);
      assert.equal(o.closeCode, CloseCode.SUPERSEDED, JSON.stringify(o));
      assert.ok(took < 2_000, `within 2 s (${took} ms)`);
      assert.deepEqual((await alarmsOf('oscar', 'identity-clone')).concat(await alarmsOf('oscar', 'replay')), []);
      // The old hello replayed to alpha while the agent is on bravo: the sequence bravo saw refuses it, and the
      // connection on bravo stays.
      const replayed = await rawConnect(alpha.port, { ...id, send: [hello(0)], waitMs: 5_000 });
      assert.equal(replayed.closeCode, CloseCode.REPLAY, JSON.stringify(replayed));
      assert.equal((await alarmsOf('oscar', 'replay')).length, 1);
      const m = await moved;
      assert.ok(m.frames.some((f) => (f as { type?: string }).type === 'welcome'));
      assert.notEqual(m.closeCode, CloseCode.SUPERSEDED, 'a replayed hello closes nothing');
    }),
  );

  test(
    `[${engine}] the agent's key copied to a second process on the other instance: identity-clone, opened once, naming both instances`,
    opts,
    logged(async () => {
      const real = enrollAgent(alpha, 'november', { interval: '1s', jitter: '100ms' });
      const p1 = runAgent(real);
      try {
        await waitFor(async () => (await read((c) => c.hosts.get('november')))?.instance === 'alpha', { what: 'november on alpha', timeoutMs: 30_000 });
        const dir = tempDir('tw-clone-');
        const copy: TestAgent = { host: 'november', stateDir: join(dir, 'state'), config: join(dir, 'agent.yml') };
        mkdirSync(copy.stateDir);
        for (const f of ['agent.key', 'agent.crt', 'ca.crt']) cpSync(join(real.stateDir, f), join(copy.stateDir, f));
        writeFileSync(copy.config, `server: ${bravo.url}\nstateDir: ${copy.stateDir}\ninterval: 1s\njitter: 100ms\ndefaults: false\nports: false\nfallback: []\n`);
        const p2 = runAgent(copy);
        try {
          const clone = await waitFor(async () => (await alarmsOf('november', 'identity-clone'))[0], { what: 'identity-clone', timeoutMs: 30_000 });
          const d = clone.detail as { bootIds: string[]; remotes: string[]; instances: string[] };
          assert.equal(new Set(d.bootIds).size, 2);
          assert.deepEqual([...d.instances].sort(), ['alpha', 'bravo']);
          // Both keep reconnecting for a while, each hello on its instance finding the other: still one alarm.
          await new Promise((r) => setTimeout(r, 5_000));
          assert.equal((await alarmsOf('november', 'identity-clone')).length, 1, 'opened once');
        } finally {
          p2.signal('SIGKILL');
          await p2.exited;
        }
      } finally {
        p1.signal('SIGKILL');
        await p1.exited;
      }
    }),
  );

  test(
    `[${engine}] every alarm opening and resolution was mailed once, by one instance or the other`,
    opts,
    logged(async () => {
      const n = await assertMailedOnce(reader!.sql, peer);
      assert.ok(n >= 34, `the burst, two instance-down openings and resolutions at least (${n})`);
    }),
  );
}
