import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadParcelWatcher, type ParcelWatcher, type SeaAccess } from '../../../agent/watch/parcel-loader.ts';

const addonPath = createRequire(import.meta.url).resolve('@parcel/watcher-linux-x64-glibc/watcher.node');

function recorder(): { lines: string[]; error(msg: string): void } {
  const lines: string[] = [];
  return { lines, error: (msg: string) => void lines.push(msg) };
}

function fakeSea(bytes: Uint8Array): SeaAccess {
  return {
    isSea: () => true,
    getAsset: () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-native-watcher-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Subscribes to dir, creates a file, and resolves with the first event's path (bounded wait). */
async function firstEvent(watcher: ParcelWatcher, dir: string): Promise<string> {
  let resolve!: (p: string) => void;
  const seen = new Promise<string>((r) => (resolve = r));
  const sub = await watcher.subscribe(dir, (err, events) => {
    if (!err && events[0]) resolve(events[0].path);
  });
  try {
    await writeFile(join(dir, 'touched'), 'x');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no watcher event within 5 s')), 5000);
    });
    try {
      return await Promise.race([seen, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await sub.unsubscribe();
  }
}

test('from source it loads the installed @parcel/watcher and sees a new file', async () => {
  await withTempDir(async (dir) => {
    const log = recorder();
    const watcher = await loadParcelWatcher(dir, log);
    assert.ok(watcher, 'expected a watcher');
    assert.deepEqual(log.lines, []);
    assert.equal(await firstEvent(watcher, dir), join(dir, 'touched'));
  });
});

test('inside an SEA it extracts the asset, checks its hash, loads it and deletes the file', async () => {
  await withTempDir(async (dir) => {
    const bytes = await readFile(addonPath);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const log = recorder();
    const watcher = await loadParcelWatcher(dir, log, { sea: fakeSea(bytes), expectedSha256: sha });
    assert.ok(watcher, `expected a watcher, log: ${log.lines.join(' | ')}`);
    assert.deepEqual(await readdir(dir), [], 'the extracted addon is deleted after loading');
    const watched = join(dir, 'w');
    await (await import('node:fs/promises')).mkdir(watched);
    assert.equal(await firstEvent(watcher, watched), join(watched, 'touched'));
  });
});

test('a tampered asset is refused with one error line, and nothing is left behind', async () => {
  await withTempDir(async (dir) => {
    const bytes = new Uint8Array(await readFile(addonPath));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const last = bytes.length - 1;
    bytes[last] = (bytes[last] ?? 0) ^ 0xff;
    const log = recorder();
    const watcher = await loadParcelWatcher(dir, log, { sea: fakeSea(bytes), expectedSha256: sha });
    assert.equal(watcher, null);
    assert.equal(log.lines.length, 1);
    assert.match(log.lines[0] ?? '', /falling back to fs\.watch.*tampered/);
    assert.deepEqual(await readdir(dir), []);
  });
});

test('an executable built without the compiled-in hash falls back with a clear reason', async () => {
  await withTempDir(async (dir) => {
    const log = recorder();
    const watcher = await loadParcelWatcher(dir, log, { sea: fakeSea(new Uint8Array(4)), expectedSha256: null });
    assert.equal(watcher, null);
    assert.match(log.lines[0] ?? '', /no SHA-256 for its watcher asset/);
  });
});

test('a missing state dir falls back with the errno in the message', async () => {
  const log = recorder();
  const bytes = await readFile(addonPath);
  const sha = createHash('sha256').update(bytes).digest('hex');
  const watcher = await loadParcelWatcher('/nonexistent/tripwarden-state', log, {
    sea: fakeSea(bytes),
    expectedSha256: sha,
  });
  assert.equal(watcher, null);
  assert.equal(log.lines.length, 1);
  assert.match(log.lines[0] ?? '', /ENOENT/);
});
