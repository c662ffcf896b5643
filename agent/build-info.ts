import { readFileSync } from 'node:fs';

// Replaced by literals by esbuild `define` in scripts/build-agent.mjs. Under
// tsx they stay undeclared globals, which `typeof` tolerates.
declare const __TRIPWARDEN_VERSION__: string | undefined;
declare const __WATCHER_SHA256__: string | undefined;

/**
 * The agent's version: compiled into the single executable by the build, read
 * from package.json when run from source.
 * @throws Error when run from source and package.json cannot be read.
 */
export function agentVersion(): string {
  if (typeof __TRIPWARDEN_VERSION__ === 'string') return __TRIPWARDEN_VERSION__;
  const url = new URL('../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error(`no "version" in ${url.pathname}`);
  return pkg.version;
}

/**
 * SHA-256 (lowercase hex) of the native @parcel/watcher addon embedded as an
 * SEA asset, as computed at build time; null when not running a built bundle.
 */
export function embeddedWatcherSha256(): string | null {
  return typeof __WATCHER_SHA256__ === 'string' ? __WATCHER_SHA256__ : null;
}
