import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './exit-on-term.ts';

const dirs: string[] = [];
// Removed at process exit rather than with node:test's `after`, which, called
// inside a `before` hook, would run as soon as that hook ends.
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits (keep with TW_KEEP_TMP=1). */
export function tempDir(prefix = 'tw-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!process.env.TW_KEEP_TMP) dirs.push(dir);
  return dir;
}
