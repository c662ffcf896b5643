/**
 * The built server in a tree of its own, laid out as installed: bin/tripwarden (a copy), dist/server
 * from scripts/build-server.mjs, and node_modules (a link) for the packages left external. No
 * package.json: the launcher must not need one. Built once per test file.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.ts';
import { tempDir } from './temp.ts';

export interface BuiltServer {
  /** The tree's root. */
  tree: string;
  /** Its bin/tripwarden. */
  bin: string;
  /** Runs bin/tripwarden to completion, in a directory of its own (not the checkout). */
  run(args: string[]): { code: number; stdout: string; stderr: string };
}

let built: BuiltServer | undefined;

/** Builds the server into a temp tree (once per process) and returns how to run it. */
export function builtServer(): BuiltServer {
  if (built) return built;
  const tree = tempDir('tw-built-');
  mkdirSync(join(tree, 'bin'));
  const bin = join(tree, 'bin', 'tripwarden');
  copyFileSync(join(ROOT, 'bin', 'tripwarden'), bin);
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-server.mjs'), '--out', join(tree, 'dist', 'server')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`build-server failed: ${r.stderr}`);
  const cwd = tempDir('tw-cwd-');
  built = {
    tree,
    bin,
    run: (args) => {
      const p = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
      return { code: p.status ?? -1, stdout: p.stdout, stderr: p.stderr };
    },
  };
  return built;
}
