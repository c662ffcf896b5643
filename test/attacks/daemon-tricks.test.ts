/**
 * Attack catalogue: daemons that look alive but are not what they were. Each
 * daemon is a copy of `sleep` under its own name, started by a shell that then
 * becomes a `sleep` that never reaps it (a killed daemon stays a zombie, as
 * under a parent that is slow to wait). The intruder freezes one with SIGSTOP,
 * kills another, and restarts a third with a library preloaded from /tmp that
 * he then deletes.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, type Proc, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';
import { record, report, since } from './latency.ts';

const HOST = 'atk-daemon-tricks';
const SLEEP = ['/usr/bin/sleep', '/bin/sleep'].find((p) => existsSync(p))!;
const LIBM = ['/usr/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/aarch64-linux-gnu/libm.so.6', '/lib64/libm.so.6'].find((p) => existsSync(p));
const NAMES = ['twd-frozen', 'twd-killed', 'twd-preload'] as const;

let server: TestServer;
let agent: Proc;
const dir = tempDir('tw-attack-daemons-');
const parents: ChildProcess[] = [];

/** Starts daemon `name` under a parent that never reaps it; resolves with the daemon's pid. */
async function startDaemon(name: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const p = spawn('/bin/sh', ['-c', `"$0" 600 & exec "$1" 600`, join(dir, name), SLEEP], { stdio: 'ignore', env: { ...process.env, ...env } });
  parents.push(p);
  return waitFor(
    () => {
      let kids: string;
      try {
        kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8');
      } catch {
        return 0;
      }
      return (
        kids
          .trim()
          .split(' ')
          .filter(Boolean)
          .map(Number)
          .find((k) => {
            try {
              return readFileSync(`/proc/${k}/comm`, 'utf8').trim() === name && existsSync(`/proc/${k}/exe`);
            } catch {
              return false;
            }
          }) ?? 0
      );
    },
    { what: `${name} started` },
  );
}

async function alarms() {
  const c = server.ctx();
  try {
    return await c.alarms.list({ host: HOST });
  } finally {
    await c.close();
  }
}
const daemonAlarms = async (name: string, t0: number) => (await alarms()).filter((a) => a.subject === name && Date.parse(a.openedAt) >= t0 - 5).sort((a, b) => a.id - b.id);

function state(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.charAt(s.lastIndexOf(')') + 2);
}

const pids: Record<string, number> = {};

before(async () => {
  for (const n of NAMES) {
    copyFileSync(SLEEP, join(dir, n));
    chmodSync(join(dir, n), 0o755);
    pids[n] = await startDaemon(n);
  }
  server = await startServer(initServer({ grace: '1s' }));
  const daemons = ['daemons:', ...NAMES.map((n) => `  - { name: ${n}, exe: ${join(dir, n)} }`), ''].join('\n');
  agent = runAgent(enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\n${daemons}` }));
  await waitFor(
    () => {
      const c = server.ctx();
      try {
        const rows = c.db!.prepare("SELECT current FROM measured WHERE host = ? AND kind = 'daemon'").all(HOST) as { current: string }[];
        return rows.length === NAMES.length && rows.every((r) => (JSON.parse(r.current) as { status: string }).status === 'up');
      } finally {
        void c.close();
      }
    },
    { timeoutMs: 30_000, what: 'every daemon reported up' },
  );
});

after(async () => {
  report(import.meta.filename);
  agent?.signal('SIGTERM');
  await agent?.exited;
  await server?.stop();
  for (const p of parents) p.kill('SIGKILL');
  for (const pid of Object.values(pids)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

test('a daemon frozen with SIGSTOP is daemon-down within one interval, and resolved on SIGCONT', async () => {
  const pid = pids['twd-frozen']!;
  const t0 = Date.now();
  process.kill(pid, 'SIGSTOP');
  const a = await waitFor(async () => (await daemonAlarms('twd-frozen', t0)).find((x) => x.kind === 'daemon-down' && !x.resolvedAt), { what: 'daemon-down on twd-frozen' });
  assert.equal(a.severity, 'critical');
  assert.match(String((a.detail as { reason?: string }).reason), /not running \(state T\)/);
  record(import.meta.filename, { attack: 'freeze a daemon with SIGSTOP', kind: a.kind, subject: 'twd-frozen', budget: 'one interval (1 s)', budgetMs: 1100, ms: since(t0, a) });
  process.kill(pid, 'SIGCONT');
  await waitFor(async () => !(await daemonAlarms('twd-frozen', t0)).some((x) => !x.resolvedAt), { what: 'resolved on SIGCONT' });
});

test('a killed daemon (left a zombie) is daemon-down first, never exe-mismatch, within one interval', async () => {
  const pid = pids['twd-killed']!;
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitFor(() => state(pid) === 'Z', { what: 'a zombie' });
  const a = await waitFor(async () => (await daemonAlarms('twd-killed', t0))[0], { what: 'an alarm on twd-killed' });
  assert.equal(a.kind, 'daemon-down', `first alarm: ${a.kind} ${JSON.stringify(a.detail)}`);
  record(import.meta.filename, {
    attack: 'kill a daemon (its parent slow to reap)',
    kind: a.kind,
    subject: 'twd-killed',
    budget: 'one interval (1 s)',
    budgetMs: 1100,
    ms: since(t0, a),
  });
  // A few more intervals: still the one kind.
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual([...new Set((await daemonAlarms('twd-killed', t0)).map((x) => x.kind))], ['daemon-down']);
});

test('a daemon restarted with a library preloaded from /tmp: daemon-exe-mismatch naming it, and naming it deleted once deleted', async (t) => {
  if (!LIBM) return t.skip('no libm to preload here');
  const lib = join(tempDir('tw-attack-lib-'), 'libaudit-helper.so');
  copyFileSync(LIBM, lib);
  const old = pids['twd-preload']!;
  const t0 = Date.now();
  process.kill(old, 'SIGKILL');
  pids['twd-preload'] = await startDaemon('twd-preload', { LD_PRELOAD: lib });
  const a = await waitFor(async () => (await daemonAlarms('twd-preload', t0)).find((x) => x.kind === 'daemon-exe-mismatch'), { what: 'daemon-exe-mismatch on twd-preload' });
  assert.equal(a.severity, 'critical');
  assert.match(String((a.detail as { reason?: string }).reason), new RegExp(`maps ${lib} from outside the library directories`));
  unlinkSync(lib);
  // The alarm stays open; what the agent now reports names the deleted file.
  await waitFor(
    () => {
      const c = server.ctx();
      try {
        const r = c.db!.prepare("SELECT current FROM measured WHERE host = ? AND kind = 'daemon' AND key = 'twd-preload'").get(HOST) as { current: string } | undefined;
        return r && (JSON.parse(r.current) as { reason?: string }).reason?.includes(`maps deleted ${lib}`);
      } finally {
        void c.close();
      }
    },
    { what: 'the deleted library named' },
  );
  record(import.meta.filename, {
    attack: 'restart a daemon with a library preloaded from /tmp',
    kind: a.kind,
    subject: 'twd-preload',
    budget: 'one interval (1 s)',
    budgetMs: 1100,
    ms: since(t0, a),
  });
});
