import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, realpathSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sharedLibraries } from '../../../../agent/checks/files/elf-deps.ts';
import { FilesCheck } from '../../../../agent/checks/files/files.ts';
import { AgentConfigSchema } from '../../../../agent/config.ts';
import { HashPool } from '../../../../agent/hashing/hash-pool.ts';
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
