import { createHash } from 'node:crypto';
import { open, readFile, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import * as nodeSea from 'node:sea';

// Replaced by a string literal by esbuild `define` in scripts/build-agent.mjs;
// an undeclared global under tsx, which `typeof` tolerates.
declare const __WATCHER_SHA256__: string | undefined;

/** The public @parcel/watcher API (subscribe, unsubscribe, snapshots). */
export type ParcelWatcher = typeof import('@parcel/watcher');

/** The one method of a pino logger this module uses. */
export interface NativeWatcherLog {
  error(msg: string): void;
}

/** The part of `node:sea` this module uses; injectable for tests. */
export interface SeaAccess {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

/** Optional overrides; production callers pass none. */
export interface NativeWatcherOptions {
  /** Defaults to `node:sea`. */
  sea?: SeaAccess;
  /** Expected SHA-256 (hex) of the asset; defaults to the compiled-in value. */
  expectedSha256?: string | null;
}

/** Name of the SEA asset holding the linux-x64-glibc watcher addon (see scripts/build-agent.mjs). */
export const WATCHER_ASSET = 'watcher.node';

/**
 * Loads @parcel/watcher. From source it is imported normally; inside the single
 * executable its native addon is extracted from the SEA asset to
 * `<stateDir>/.watcher-<sha8>.node` (mode 0600; the state dir, unlike /tmp or
 * /run, is not mounted noexec), its SHA-256 checked against the value compiled
 * into the bundle, `process.dlopen`ed, wrapped, and the file deleted again.
 *
 * Never throws: on any failure it logs one error line and resolves to null,
 * and the caller falls back to `fs.watch`.
 * @param stateDir the agent's private state directory (must exist, root-only).
 * @param log receives the one error line on failure.
 */
export async function loadParcelWatcher(stateDir: string, log: NativeWatcherLog, options: NativeWatcherOptions = {}): Promise<ParcelWatcher | null> {
  const sea = options.sea ?? nodeSea;
  try {
    if (!sea.isSea()) {
      // A require built from this file's URL keeps esbuild from bundling
      // @parcel/watcher/index.js, whose dynamic require cannot work in an SEA.
      return createRequire(import.meta.url)('@parcel/watcher') as ParcelWatcher;
    }
    const compiledIn = typeof __WATCHER_SHA256__ === 'string' ? __WATCHER_SHA256__ : null;
    const expected = options.expectedSha256 === undefined ? compiledIn : options.expectedSha256;
    return await loadFromAsset(sea, stateDir, expected);
  } catch (err) {
    log.error(`native file watcher unavailable, falling back to fs.watch: ${describe(err)}`);
    return null;
  }
}

async function loadFromAsset(sea: SeaAccess, stateDir: string, expected: string | null): Promise<ParcelWatcher> {
  if (!expected || !/^[0-9a-f]{64}$/.test(expected)) {
    throw new Error('the executable carries no SHA-256 for its watcher asset (rebuild with npm run build:agent)');
  }
  const bytes = new Uint8Array(sea.getAsset(WATCHER_ASSET));
  const file = join(stateDir, `.watcher-${expected.slice(0, 8)}.node`);
  try {
    await unlink(file).catch(ignoreMissing); // left over from a crash
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
    } finally {
      await handle.close();
    }
    // Hash what is on disk, i.e. what dlopen will map, not the buffer.
    const actual = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    if (actual !== expected) {
      throw new Error(`watcher addon ${file} has SHA-256 ${actual}, expected ${expected}: executable tampered or corrupt`);
    }
    const mod: { exports: unknown } = { exports: {} };
    process.dlopen(mod, file, osConstants.dlopen.RTLD_NOW);
    const { createWrapper } = await import('@parcel/watcher/wrapper.js');
    return createWrapper(mod.exports);
  } finally {
    // Once mapped the file is no longer needed; do not leave code lying around.
    // Best effort: a loaded binding is worth more than a failed clean-up.
    await unlink(file).catch(() => undefined);
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
