/**
 * The peers the idle agent is measured beside, on the same file set: Samhain
 * (file check only, inotify on, a full check every 600 s) and iwatch (inotify
 * alone, no hash). Each runs from its Debian package when installed; each
 * start returns the process or the reason it was skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WatchTarget } from '../agent/checks/files/watch-set.ts';
import { sleep } from './lib.ts';

/** A running peer: its root process (its descendants are counted with it) and how to stop it. */
export interface Peer {
  pid: number;
  stop(): Promise<void>;
}

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null;
const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/** Every live process whose parent chain leads to `pid`, `pid` first. */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = readFileSync(`/proc/${n}/stat`, 'utf8');
      parent.set(Number(n), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // ended meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i] && !out.includes(p)) out.push(p);
  return out.filter((p) => parent.has(p));
}

/** Samhain processes already running (a packaged daemon): they must be stopped before measuring. */
export function runningSamhains(): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (readFileSync(`/proc/${n}/comm`, 'utf8').trim() === 'samhain') out.push(Number(n));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** Samhain's policy for the set: each present file, each directory with its depth (99 for a tree, 0 for its entries). */
export function samhainConfig(set: readonly WatchTarget[], dataDir: string, fullCheckS: number): string {
  const lines = ['[ReadOnly]'];
  for (const t of set) {
    if (!exists(t.path)) continue;
    lines.push(t.dir ? `dir = ${t.recursive ? 99 : 0}${t.path}` : `file = ${t.path}`);
  }
  return `${[
    ...lines,
    '[Inotify]',
    'InotifyActive = yes',
    '[Utmp]',
    'LoginCheckActive = no',
    '[SuidCheck]',
    'SuidCheckActive = no',
    '[Kernel]',
    'KernelCheckActive = no',
    '[Mounts]',
    'MountCheckActive = no',
    '[UserFiles]',
    'UserfilesActive = no',
    '[ProcessCheck]',
    'ProcessCheckActive = no',
    '[PortCheck]',
    'PortCheckActive = no',
    '[Logmon]',
    'LogmonActive = no',
    '[Log]',
    'MailSeverity = none',
    'PrintSeverity = none',
    'SyslogSeverity = none',
    'LogSeverity = crit',
    '[Misc]',
    'Daemon = yes',
    'ChecksumTest = check',
    `SetFilecheckTime = ${fullCheckS}`,
    'SetLoopTime = 60',
    'SetReverseLookup = False',
    `SetDatabasePath = ${dataDir}/samhain_file`,
    `SetLogfilePath = ${dataDir}/samhain.log`,
    `SetLockfilePath = ${dataDir}/samhain.pid`,
  ].join('\n')}\n`;
}

/**
 * Starts Samhain on the set in a private mount namespace, its config bound
 * over /etc/samhain and its database, log and lock over /var/lib/samhain
 * (the paths it is built with), so the host's own files stay untouched.
 * Initialises the database first, then runs the check in the foreground.
 */
export async function startSamhain(set: readonly WatchTarget[], tmp: string, fullCheckS = 600): Promise<Peer | string> {
  if (!which('samhain')) return 'samhain is not installed (apt-get install samhain)';
  if (!which('unshare')) return 'unshare (util-linux) is missing';
  const running = runningSamhains();
  if (running.length) return `a samhain already runs (pids ${running.join(', ')}): stop it first`;
  const etc = join(tmp, 'samhain-etc');
  const data = join(tmp, 'samhain-lib');
  mkdirSync(etc, { mode: 0o755 });
  mkdirSync(data, { mode: 0o700 });
  writeFileSync(join(etc, 'samhainrc'), samhainConfig(set, '/var/lib/samhain', fullCheckS), { mode: 0o600 });
  const inNs = (args: string) => `mount --bind ${etc} /etc/samhain && mount --bind ${data} /var/lib/samhain && exec samhain ${args}`;
  const init = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', inNs('-t init -p none')], { encoding: 'utf8', timeout: 120_000 });
  if (!existsSync(join(data, 'samhain_file'))) return `samhain -t init made no database: ${(init.stderr || init.stdout).trim().split('\n').slice(-3).join(' ')}`;
  // Samhain detaches whatever its flags say: its lock file names the daemon.
  spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', inNs('-t check -D -p none')], { stdio: 'ignore' }).unref();
  const lock = join(data, 'samhain.pid');
  let pid = 0;
  for (let i = 0; i < 300 && !pid; i++) {
    await sleep(100);
    try {
      const p = Number(readFileSync(lock, 'utf8').trim());
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'samhain') pid = p;
    } catch {
      // not written yet
    }
  }
  if (!pid) return `samhain did not start in 30 s; see ${join(data, 'samhain.log')}`;
  return {
    pid,
    stop: async () => {
      for (const p of processTree(pid).reverse()) process.kill(p, 'SIGTERM');
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(100);
    },
  };
}

/** iwatch's config for the set: each present directory, recursive where the set says so, and each present file. */
export function iwatchConfig(set: readonly WatchTarget[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const paths = set.filter((t) => exists(t.path)).map((t) => `    <path type="${t.dir && t.recursive ? 'recursive' : 'single'}">${esc(t.path)}</path>`);
  return [
    '<?xml version="1.0" ?>',
    '<!DOCTYPE config SYSTEM "/etc/iwatch/iwatch.dtd" >',
    '<config charset="utf-8">',
    '  <guard email="root@localhost" name="bench"/>',
    '  <watchlist>',
    '    <title>bench</title>',
    '    <contactpoint email="root@localhost" name="bench"/>',
    ...paths,
    '  </watchlist>',
    '</config>',
    '',
  ].join('\n');
}

/** Starts iwatch on the set (events to its stdout, discarded). */
export async function startIwatch(set: readonly WatchTarget[], tmp: string): Promise<Peer | string> {
  const exe = which('iwatch');
  if (!exe) return 'iwatch is not installed (apt-get install iwatch)';
  const cfg = join(tmp, 'iwatch.xml');
  writeFileSync(cfg, iwatchConfig(set));
  const child = spawn(exe, ['-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-500);
  });
  await sleep(2000);
  if (child.exitCode !== null) return `iwatch exited at start (${child.exitCode}): ${err.trim()}`;
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}
