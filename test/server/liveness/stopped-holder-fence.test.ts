/**
 * The fence over one SQLite file, with real processes: a child that opened the database and holds its write
 * lock (BEGIN IMMEDIATE), stopped or not, named by an instance's lease or not. Only a stopped holder whose
 * lease lapsed is ended.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openServerContext, type ServerContext } from '../../../server/context.ts';
import { processMark } from '../../../server/liveness/process-mark.ts';
import { StoppedHolderFence } from '../../../server/liveness/stopped-holder-fence.ts';
import { walWriteLockHolder } from '../../../server/storage/sqlite-lock-holder.ts';
import { initServer, ROOT } from '../../helpers/cluster.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { waitFor } from '../../helpers/wait.ts';

const TIMEOUT = 10_000;
const clock = new FakeClock(Date.now());
let ctx: ServerContext;
let file: string;

before(() => {
  const dir = initServer().dir;
  file = join(dir, 'tripwarden.db');
  ctx = openServerContext(dir, clock);
});
after(() => ctx.close());

/** A process with the database open; {@link lock} makes it take the write lock. */
async function holder(): Promise<ChildProcess> {
  const code = `const db = new (require('better-sqlite3'))(process.argv[1]);
    process.stdin.on('data', () => { db.exec('BEGIN IMMEDIATE'); console.log('locked'); });
    console.log('open');`;
  const child = spawn(process.execPath, ['-e', code, file], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return child;
}

/** Makes `child` take the write lock (BEGIN IMMEDIATE); resolves once it holds it. */
async function lock(child: ChildProcess): Promise<void> {
  child.stdin!.write('lock\n');
  await once(child.stdout!, 'data');
}

const stateOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
};

/** The lease of instance `name`, naming process `pid`, last renewed `ageMs` ago. */
async function lease(name: string, pid: number, ageMs: number): Promise<void> {
  const t = clock.now() - ageMs;
  await ctx.sql.run(
    `INSERT INTO instances (name, started_at, last_seen, agents, token) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen, token = excluded.token, stopped_at = NULL, down_at = NULL`,
    [name, t, t, `t-${pid} ${processMark(pid)}`],
  );
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await once(child, 'exit');
}

const fence = () => new StoppedHolderFence(ctx.sql, { name: 'bravo', clock, timeoutMs: TIMEOUT });

test('a stopped process holding the write lock, named by a lapsed lease: ended with SIGKILL, the lock freed', async () => {
  const child = await holder();
  try {
    await lease('alpha', child.pid!, 5_000);
    await lock(child);
    child.kill('SIGSTOP');
    await waitFor(() => stateOf(child.pid!) === 'T', { what: 'stopped' });
    assert.equal(walWriteLockHolder(file), child.pid);
    assert.equal(await fence().check(), null, 'not while its lease is live');
    assert.equal(stateOf(child.pid!), 'T');
    clock.advance(TIMEOUT);
    assert.deepEqual(await fence().check(), { instance: 'alpha', pid: child.pid });
    await once(child, 'exit');
    assert.equal(child.signalCode, 'SIGKILL');
    assert.equal(walWriteLockHolder(file), undefined);
    assert.equal(await ctx.sql.run(`UPDATE instances SET agents = 1 WHERE name = 'alpha'`), 1, 'the file is writable again');
  } finally {
    await end(child);
  }
});

test('a running holder with a lapsed lease is left alone (it is slow, not frozen)', async () => {
  const child = await holder();
  try {
    await lease('alpha', child.pid!, 2 * TIMEOUT);
    await lock(child);
    assert.equal(walWriteLockHolder(file), child.pid);
    assert.equal(await fence().check(), null);
    assert.equal(child.exitCode ?? child.signalCode, null);
  } finally {
    await end(child);
  }
});

test('a stopped instance with a lapsed lease that holds no lock is left alone; so is a stopped holder no lease names', async () => {
  const idle = await holder();
  try {
    await lease('alpha', idle.pid!, 2 * TIMEOUT);
    idle.kill('SIGSTOP');
    await waitFor(() => stateOf(idle.pid!) === 'T', { what: 'stopped' });
    assert.equal(await fence().check(), null, 'no lock held');
  } finally {
    await end(idle);
  }
  const other = await holder();
  try {
    await lock(other);
    other.kill('SIGSTOP');
    await waitFor(() => stateOf(other.pid!) === 'T', { what: 'stopped' });
    assert.equal(walWriteLockHolder(file), other.pid);
    assert.equal(await fence().check(), null, 'the lapsed lease names another process');
    assert.equal(stateOf(other.pid!), 'T');
  } finally {
    await end(other);
  }
});
