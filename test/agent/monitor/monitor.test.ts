import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Check } from '../../../agent/checks/check.ts';
import { FilesCheck } from '../../../agent/checks/files/files.ts';
import { AgentConfigSchema } from '../../../agent/config.ts';
import { HashPool } from '../../../agent/hashing/hash-pool.ts';
import type { Delta } from '../../../agent/monitor/delta.ts';
import { Monitor } from '../../../agent/monitor/monitor.ts';
import type { WatchBackend } from '../../../agent/watch/backend.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A backend the test drives by hand: it records subscriptions and fires hints or errors on demand. */
class HandBackend implements WatchBackend {
  readonly name = 'hand';
  subs: { dir: string; onPaths: (p: string[]) => void; onError: (e: Error) => void }[] = [];
  async subscribe(dir: string, _r: boolean, onPaths: (p: string[]) => void, onError: (e: Error) => void) {
    this.subs.push({ dir, onPaths, onError });
    return { close: async () => undefined };
  }
}

async function setup() {
  const d = tempDir('tw-mon-');
  const w = join(d, 'w');
  mkdirSync(w);
  writeFileSync(join(w, 'a'), 'one');
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: join(d, 'state'), defaults: false, daemons: [], watch: [{ path: w }], fullScanEvery: '1h' });
  const backend = new HandBackend();
  const hasher = new HashPool({ workers: 1, ionice: null });
  const clock = new FakeClock();
  const check = new FilesCheck({ cfg, configPath: join(d, 'agent.yml'), log: silentLogger(), clock, hasher, watch: { primary: backend, fast: null }, selfPath: '/bin/true' });
  const deltas: Delta[] = [];
  const scans: boolean[] = [];
  const mon = new Monitor({
    checks: [check],
    clock,
    log: silentLogger(),
    intervalMs: 1000,
    fullScanMs: 3_600_000,
    onDelta: (x) => deltas.push(x),
    onScan: (s) => scans.push(s.first),
  });
  await mon.start();
  return { w, backend, hasher, mon, deltas, scans, clock };
}

test('a hint re-measures the path and hands the change over at once, with no timer involved', async () => {
  const s = await setup();
  try {
    assert.equal(s.deltas.length, 0, 'the first scan goes out as a report, not as an event');
    writeFileSync(join(s.w, 'a'), 'two');
    s.backend.subs.find((x) => x.dir === s.w)!.onPaths([join(s.w, 'a')]);
    await waitFor(() => s.deltas.length > 0, { timeoutMs: 2000, what: 'a delta' });
    assert.equal(s.deltas[0]?.files[0]?.path, join(s.w, 'a'));
    // A hint for a path that did not change sends nothing.
    s.backend.subs.find((x) => x.dir === s.w)!.onPaths([join(s.w, 'a')]);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.deltas.length, 1);
  } finally {
    await s.mon.stop();
    await s.hasher.close();
  }
});

test('a watcher error (overflow) triggers an immediate full scan and is itself reported', async () => {
  const s = await setup();
  try {
    // Changed behind the watcher's back: only the full scan can find it.
    writeFileSync(join(s.w, 'b'), 'dropped while the queue overflowed');
    s.backend.subs[0]!.onError(new Error('Events were dropped (queue overflow)'));
    await waitFor(() => s.scans.length >= 2, { timeoutMs: 2000, what: 'the second full scan' });
    await waitFor(() => s.deltas.some((x) => x.files.some((f) => f.path === join(s.w, 'b'))), { timeoutMs: 2000, what: 'the file found by the scan' });
    const notes = s.deltas.flatMap((x) => x.notes);
    assert.equal(notes[0]?.kind, 'overflow');
    assert.deepEqual(s.scans, [true, false]);
  } finally {
    await s.mon.stop();
    await s.hasher.close();
  }
});

test('the full scan runs again when its period passes (fake clock)', async () => {
  const s = await setup();
  try {
    writeFileSync(join(s.w, 'c'), 'new');
    s.clock.advance(3_600_000);
    await waitFor(() => s.deltas.some((x) => x.files.some((f) => f.path === join(s.w, 'c'))), { timeoutMs: 2000, what: 'the scheduled scan' });
  } finally {
    await s.mon.stop();
    await s.hasher.close();
  }
});

test('a stop while one check is still subscribing starts no later check its watch (nothing outlives close)', async () => {
  let release!: () => void;
  const slow = new Promise<void>((r) => (release = r));
  const watched: string[] = [];
  const closed: string[] = [];
  const check = (name: string, wait?: Promise<void>): Check => ({
    name,
    kind: 'file',
    cadence: 'cycle',
    measure: async () => [],
    watch: async () => {
      watched.push(name);
      await wait;
    },
    close: async () => void closed.push(name),
  });
  const mon = new Monitor({
    checks: [check('first', slow), check('second')],
    clock: new FakeClock(),
    log: silentLogger(),
    intervalMs: null,
    fullScanMs: 3_600_000,
    onDelta: () => undefined,
    onScan: () => undefined,
  });
  const started = mon.start();
  await mon.stop();
  release();
  await started;
  assert.deepEqual(closed.sort(), ['first', 'second']);
  assert.deepEqual(watched, ['first'], 'the second check was closed before its watch could start');
});
