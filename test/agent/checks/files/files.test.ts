import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, realpathSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedLibraries } from '../../../../agent/checks/files/elf-deps.ts';
import { FilesCheck } from '../../../../agent/checks/files/files.ts';
import { AgentConfigSchema } from '../../../../agent/config.ts';
import { type Hasher, HashPool } from '../../../../agent/hashing/hash-pool.ts';
import { writesRefusedWhileRunning } from '../../../../agent/hashing/running-executables.ts';
import type { Delta } from '../../../../agent/monitor/delta.ts';
import { Monitor } from '../../../../agent/monitor/monitor.ts';
import { FsWatchBackend } from '../../../../agent/watch/fs-watch-backend.ts';
import { silentLogger } from '../../../../shared/log.ts';
import type { FileEntry } from '../../../../shared/protocol.ts';
import { FakeClock } from '../../../helpers/fake-clock.ts';
import { tempDir } from '../../../helpers/temp.ts';
import { waitFor } from '../../../helpers/wait.ts';

const LIB = 'usr/lib/x86_64-linux-gnu';

/** The library `binary` loads whose name matches, as its real path on this machine; null when it loads none. */
function libOf(binary: string, name: RegExp): string | null {
  return sharedLibraries(binary).find((p) => name.test(p)) ?? null;
}

/**
 * A root whose cron is a copy of xz (loads liblzma), with the libraries of
 * both xz and bzip2 (loads libbz2) copied under the names the loader opens.
 */
function layOut(): { root: string; cron: string; lzma: string; bz2: string } | null {
  const lzma = libOf('/usr/bin/xz', /liblzma\.so/);
  const bz2 = libOf('/usr/bin/bzip2', /libbz2\.so/);
  const libc = libOf('/usr/bin/xz', /\/libc\.so\.6$/);
  if (!lzma || !bz2 || !libc) return null;
  const root = tempDir('tw-files-root-');
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  mkdirSync(join(root, LIB), { recursive: true });
  copyFileSync(libc, join(root, LIB, 'libc.so.6'));
  copyFileSync(realpathSync(lzma), join(root, LIB, 'liblzma.so.5'));
  copyFileSync(realpathSync(bz2), join(root, LIB, 'libbz2.so.1.0'));
  const cron = join(root, 'usr/sbin/cron');
  copyFileSync('/usr/bin/xz', cron);
  return { root, cron, lzma: join(root, LIB, 'liblzma.so.5'), bz2: join(root, LIB, 'libbz2.so.1.0') };
}

async function start(root: string, watching: boolean) {
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: join(root, 'state'), daemons: [], fullScanEvery: '1h' });
  const hasher = new HashPool({ workers: 1, ionice: null });
  const clock = new FakeClock();
  const fast = watching ? new FsWatchBackend() : null;
  const check = new FilesCheck({ cfg, configPath: join(root, 'agent.yml'), log: silentLogger(), clock, hasher, watch: { primary: null, fast }, selfPath: '/bin/true', root });
  const deltas: Delta[] = [];
  const mon = new Monitor({ checks: [check], clock, log: silentLogger(), intervalMs: null, fullScanMs: 3_600_000, onDelta: (d) => deltas.push(d) });
  await mon.start();
  const stop = async () => {
    await mon.stop();
    await hasher.close();
  };
  return { mon, deltas, stop };
}

/** Replaces `path` atomically with a copy of `from`, as a package upgrade does. */
function replaceWith(path: string, from: string): void {
  copyFileSync(from, `${path}.new`);
  renameSync(`${path}.new`, path);
}

const sent = (deltas: Delta[], path: string) => deltas.some((d) => d.files.some((f) => f.path === path));
const gone = (deltas: Delta[], path: string) => deltas.some((d) => d.gone.includes(path));

test('a guarded binary replaced by one that loads another library: the new library is guarded at once, the old one leaves the set', async (t) => {
  const l = layOut();
  if (!l) return t.skip('xz or bzip2 not installed here');
  const a = await start(l.root, true);
  try {
    assert.ok(a.mon.state.get('file', l.lzma), 'the library cron loads at start is guarded');
    assert.equal(a.mon.state.get('file', l.bz2), undefined, 'a library cron does not load is not');
    replaceWith(l.cron, '/usr/bin/bzip2');
    await waitFor(() => sent(a.deltas, l.bz2) && gone(a.deltas, l.lzma), { timeoutMs: 20_000, what: 'libbz2 added and liblzma gone' });
    assert.equal((a.mon.state.get('file', l.bz2) as FileEntry | undefined)?.class, 'critical');
    // The new library is watched in real time like the rest: a write to it arrives without a full scan.
    const before = a.deltas.length;
    appendFileSync(l.bz2, 'x');
    await waitFor(() => a.deltas.slice(before).some((d) => d.files.some((f) => f.path === l.bz2)), { timeoutMs: 20_000, what: 'the write to libbz2' });
  } finally {
    await a.stop();
  }
});

test('a binary replaced while no watcher heard it: the next full scan takes its libraries', async (t) => {
  const l = layOut();
  if (!l) return t.skip('xz or bzip2 not installed here');
  const a = await start(l.root, false);
  try {
    replaceWith(l.cron, '/usr/bin/bzip2');
    await a.mon.fullScan();
    assert.ok(a.mon.state.get('file', l.bz2), 'libbz2 guarded after the scan');
    assert.equal(a.mon.state.get('file', l.lzma), undefined, 'liblzma no longer reported');
  } finally {
    await a.stop();
  }
});

/** The real pool, counting which paths it is asked to read. */
function countingHasher() {
  const pool = new HashPool({ workers: 1, ionice: null });
  const reads: string[] = [];
  const hasher: Hasher = {
    hash: (p) => {
      reads.push(p);
      return pool.hash(p);
    },
    hashNow: (p) => {
      reads.push(p);
      return pool.hashNow(p);
    },
    close: () => pool.close(),
  };
  return { hasher, reads };
}

test('a full scan does not re-read a running executable unchanged since it was hashed, and reads it again once nothing runs it', async (t) => {
  if (!writesRefusedWhileRunning()) return t.skip('this kernel lets a running executable be opened for writing');
  const d = tempDir('tw-files-exe-');
  const exe = join(d, 'w', 'bash');
  mkdirSync(join(d, 'w'));
  copyFileSync('/bin/bash', exe);
  chmodSync(exe, 0o755);
  // Started before the first scan hashes it: the kernel has refused writes to it since.
  const proc = spawn(exe, ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
  await once(proc, 'spawn');
  const { hasher, reads } = countingHasher();
  const cfg = AgentConfigSchema.parse({ server: 'wss://x:1', stateDir: join(d, 'state'), defaults: false, daemons: [], watch: [{ path: join(d, 'w') }], fullScanEvery: '1h' });
  const check = new FilesCheck({
    cfg,
    configPath: join(d, 'agent.yml'),
    log: silentLogger(),
    clock: new FakeClock(),
    hasher,
    watch: { primary: null, fast: null },
    selfPath: '/bin/true',
  });
  const mon = new Monitor({ checks: [check], clock: new FakeClock(), log: silentLogger(), intervalMs: null, fullScanMs: 3_600_000, onDelta: () => undefined });
  try {
    await mon.start();
    const first = (mon.state.get('file', exe) as FileEntry).sha256;
    assert.equal(reads.filter((p) => p === exe).length, 1, 'hashed by the first scan');
    await mon.fullScan();
    assert.equal(reads.filter((p) => p === exe).length, 1, 'not read again while it runs');
    assert.equal((mon.state.get('file', exe) as FileEntry).sha256, first, 'its hash is kept');
    proc.stdin!.end('\n');
    await once(proc, 'exit');
    await mon.fullScan();
    assert.equal(reads.filter((p) => p === exe).length, 2, 'read again once nothing runs it');
    appendFileSync(exe, 'x');
    await mon.fullScan();
    assert.notEqual((mon.state.get('file', exe) as FileEntry).sha256, first, 'a write after it stopped is seen');
  } finally {
    if (proc.exitCode === null) proc.kill();
    await mon.stop();
    await hasher.close();
  }
});
