import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.ts';

/** package.json's version: the one in every package's name. */
export const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

const missing = ['dpkg', 'dpkg-deb', 'dpkg-shlibdeps'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
/** Why the package tests cannot run here, or false. */
export const debSkip: string | false = missing.length ? `${missing.join(', ')} not installed (apt-get install dpkg-dev)` : false;
/** Why lintian cannot run here, or false. */
export const lintianSkip: string | false = debSkip || (existsSync('/usr/bin/lintian') ? false : 'lintian not installed (apt-get install lintian)');

export interface Run {
  status: number | null;
  out: string;
}

/** Runs a program to completion, stdout and stderr together. */
export function sh(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 300_000, env, maxBuffer: 64 << 20 });
  return { status: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** Builds one package into OUT with `npm run package` (the agent executable is reused when built already). */
export function buildPackage(which: 'agent' | 'server', out: string): string {
  const r = sh(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), '--only', which, '--reuse-agent', '--out', out]);
  assert.equal(r.status, 0, r.out);
  const arch = sh('dpkg', ['--print-architecture']).out.trim();
  const deb = join(out, `tripwarden-${which}_${version}_${arch}.deb`);
  assert.ok(existsSync(deb), `${deb} not written:\n${r.out}`);
  return deb;
}

/** Starts lintian on a package in the background (it takes a minute on a loaded machine): E and W fail. */
export function lintian(deb: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('lintian', ['--fail-on', 'error,warning', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
    });
    child.stderr.on('data', (b) => {
      out += b;
    });
    child.on('close', (status) => resolve({ status, out }));
  });
}

/** Lintian's error and warning lines. */
export const lintianFindings = (r: Run): string[] => r.out.split('\n').filter((l) => /^[EW]: /.test(l));

/**
 * A throwaway dpkg root under DIR: an empty database and a passwd/group with
 * root only. Maintainer scripts run without chroot, with DPKG_ROOT pointing
 * here, which is the mode Debian uses to bootstrap systems and which ours honour.
 */
export function throwawayRoot(parent: string): { dir: string; dpkg(...a: string[]): Run } {
  const dir = mkdtempSync(join(parent, 'root-'));
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc']) mkdirSync(join(dir, d), { recursive: true });
  for (const f of ['var/lib/dpkg/status', 'var/lib/dpkg/available']) writeFileSync(join(dir, f), '');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(dir, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  // Dependencies (libc6, ...) are not in the empty root: --force-depends.
  const base = [`--root=${dir}`, '--force-script-chrootless', '--force-not-root', '--force-depends', '--force-confold'];
  return { dir, dpkg: (...a: string[]) => sh('dpkg', [...base, ...a]) };
}

/** A file's permission bits. */
export const mode = (p: string): number => statSync(p).mode & 0o7777;

/** A package's Status line in a dpkg root's database ("not-installed" once purged). */
export function dpkgStatus(dir: string, pkg: string): string {
  const text = readFileSync(join(dir, 'var/lib/dpkg/status'), 'utf8');
  const para = text.split('\n\n').find((p) => p.startsWith(`Package: ${pkg}\n`));
  return /^Status: (.*)$/m.exec(para ?? '')?.[1] ?? 'not-installed';
}
