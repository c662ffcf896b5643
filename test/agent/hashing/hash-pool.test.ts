import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HashPool } from '../../../agent/hashing/hash-pool.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

test('the pool hashes like crypto does, across chunk boundaries, and reports unreadable files as errors', async () => {
  const d = tempDir('tw-hash-');
  const big = Buffer.alloc((3 << 20) + 17, 7);
  writeFileSync(join(d, 'big'), big);
  writeFileSync(join(d, 'empty'), '');
  symlinkSync(join(d, 'big'), join(d, 'link'));
  const pool = new HashPool({ workers: 2, ionice: null });
  try {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.deepEqual(await pool.hash(join(d, 'big')), { sha256: sha(big), size: big.length });
    assert.deepEqual(await pool.hashNow(join(d, 'big')), { sha256: sha(big), size: big.length });
    assert.equal((await pool.hash(join(d, 'empty'))).sha256, sha(Buffer.alloc(0)));
    await assert.rejects(pool.hash(join(d, 'missing')), /ENOENT/);
    // A symlink is never followed: a swapped-in link cannot make the agent read elsewhere.
    await assert.rejects(pool.hash(join(d, 'link')), /ELOOP/);
  } finally {
    await pool.close();
  }
});

test('the worker threads run niced while the main thread keeps its priority', async () => {
  const pool = new HashPool({ workers: 2, nice: 10, ionice: null, growAfterMs: 0 });
  try {
    await Promise.all([pool.hash('/etc/hostname'), pool.hash('/etc/hostname')]);
    // Field 19 of /proc/PID/task/TID/stat is the nice value of that thread.
    const nices = readdirSync('/proc/self/task').map((tid) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    assert.equal(nices.filter((n) => n === 10).length, 2, `thread nice values: ${nices.join(',')}`);
    assert.equal(Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[16]), 0, 'the main thread is not niced');
  } finally {
    await pool.close();
  }
});

test('workers start with work and retire when idle, so an idle agent holds no extra threads', async () => {
  const dir = tempDir();
  const f = join(dir, 'f');
  writeFileSync(f, 'x'.repeat(1000));
  const pool = new HashPool({ workers: 2, idleMs: 200, ionice: null });
  assert.equal(pool.threads, 0, 'no thread before any work');
  const r = await Promise.all([pool.hash(f), pool.hash(f), pool.hash(f)]);
  assert.equal(r[0]!.size, 1000);
  assert.ok(pool.threads >= 1 && pool.threads <= 2, 'bounded by the pool size');
  await waitFor(() => pool.threads === 0, { timeoutMs: 3000, what: 'idle workers retired' });
  assert.equal((await pool.hash(f)).size, 1000, 'and a new one starts for the next job');
  await pool.close();
});

test('a second worker starts only for work that waited: a small scan is hashed by one', async () => {
  const dir = tempDir();
  const files = Array.from({ length: 20 }, (_, i) => join(dir, `f${i}`));
  for (const f of files) writeFileSync(f, 'x'.repeat(4096));
  // Twenty small files queued at once, with growth only after 10 s of waiting: one worker does them all.
  const patient = new HashPool({ workers: 2, growAfterMs: 10_000, ionice: null });
  try {
    assert.equal((await Promise.all(files.map((f) => patient.hash(f)))).length, 20);
    assert.equal(patient.threads, 1, 'one worker for a scan that never waited long');
  } finally {
    await patient.close();
  }
  // The same files with growth after 1 ms: the first worker's own start-up (tens of ms) is wait enough.
  const eager = new HashPool({ workers: 2, growAfterMs: 1, ionice: null });
  try {
    await Promise.all(files.map((f) => eager.hash(f)));
    assert.equal(eager.threads, 2, 'a second worker once files waited');
  } finally {
    await eager.close();
  }
});

test('an idle worker retires exactly when its idle time has passed on the injected clock', async () => {
  const d = tempDir('tw-hash-');
  writeFileSync(join(d, 'f'), 'x');
  const clock = new FakeClock();
  const pool = new HashPool({ workers: 1, idleMs: 30_000, ionice: null, clock });
  try {
    await pool.hash(join(d, 'f'));
    assert.equal(pool.threads, 1);
    clock.advance(29_999);
    assert.equal(pool.threads, 1, 'kept a moment before its idle time is up');
    clock.advance(1);
    assert.equal(pool.threads, 0, 'retired at its idle time');
  } finally {
    await pool.close();
  }
});
