import { readFileSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MountEntry } from '../../shared/protocol.ts';
import type { Measured } from '../../shared/state-digest.ts';
import { FINDMNT_POLL, type MountEvent, MountEvents } from '../watch/mount-events.ts';
import type { Check, CheckContext, CheckHooks } from './check.ts';
import { buildWatchSet, type WatchTarget } from './files/watch-set.ts';
import { type MountInfo, mountState, parseMountInfo } from './mountinfo.ts';

/** Whether a mount at `mountPoint` changes what a guarded path shows: a mount at or above it, or inside a guarded directory. */
export function coversGuarded(mountPoint: string, t: Pick<WatchTarget, 'path' | 'dir' | 'recursive'>): boolean {
  if (mountPoint === t.path || mountPoint === '/' || t.path.startsWith(`${mountPoint}/`)) return true;
  if (!t.dir || !mountPoint.startsWith(`${t.path}/`)) return false;
  return t.recursive || dirname(mountPoint) === t.path;
}

/** A path for a one-line note: control bytes (a hostile newline) written as `\xHH`. */
const printable = (p: string): string => p.replace(/[\x00-\x1f\x7f\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Options to `ro`/`rw`: read-only when the list says so. */
const roRw = (options: string[]): 'ro' | 'rw' => (options.includes('ro') ? 'ro' : 'rw');

/** A mount table to read and watch: its mountinfo file and the findmnt command that follows it. */
export interface MountTable {
  mountinfo: string;
  command: string[];
}

/** How bad a watched mount's state is, to combine what several tables say. */
const WORSE: Record<'ro' | 'rw', number> = { ro: 0, rw: 1 };

/**
 * The tables to watch: the agent's own, and init's (pid 1) when the agent runs
 * in a mount namespace of its own. Under its systemd unit (PrivateMounts,
 * ProtectSystem) the agent's view is a private copy where everything is
 * read-only; an intruder works in the host's table, which only pid 1 shows.
 */
export function mountTables(proc = '/proc'): MountTable[] {
  const own: MountTable = { mountinfo: `${proc}/self/mountinfo`, command: FINDMNT_POLL };
  try {
    if (readlinkSync(`${proc}/1/ns/mnt`) === readlinkSync(`${proc}/self/ns/mnt`)) return [own];
    readFileSync(`${proc}/1/mountinfo`, 'utf8');
    return [own, { mountinfo: `${proc}/1/mountinfo`, command: [...FINDMNT_POLL, '--task', '1'] }];
  } catch {
    return [own]; // pid 1's namespace is not ours to read
  }
}

/**
 * Mounts meant to be read-only, read from the mount tables at once on every
 * change of a table (`findmnt --poll`, see {@link MountEvents}) and at every
 * full scan; a cycle re-reads them only while a table's findmnt is not
 * watching (not started, restarting, stopped or traced by someone, or still
 * starting) or has reported a change since the last read;
 * and, while watching, every mount that was not there at start and covers a
 * guarded path (state `covered`: a bind mount over a guarded binary shows
 * another file at its path without writing it). Each change is also reported
 * as a `mount-event` note and makes the runner re-measure everything, so the
 * guarded files under the mount are re-checked.
 */
export class MountsCheck implements Check {
  readonly name = 'mounts';
  readonly kind = 'mount' as const;
  readonly cadence = 'cycle' as const;
  /** Mount points of each table when watching began; null until then (no `covered` entries without it). */
  private atStart: Set<string>[] | null = null;
  private guarded: WatchTarget[] = [];
  private events: MountEvents[] = [];
  /** The last measurement and when its read began (clock ms), reused by cycles while findmnt reports nothing. */
  private last: { at: number; items: Measured[] } | null = null;

  constructor(
    private readonly ctx: CheckContext,
    private readonly tables: MountTable[] = mountTables(),
  ) {}

  private read(i: number): MountInfo[] {
    return parseMountInfo(readFileSync(this.tables[i]!.mountinfo, 'utf8'));
  }

  private covers(i: number, mountPoint: string): boolean {
    return this.atStart !== null && !this.atStart[i]!.has(mountPoint) && this.guarded.some((t) => coversGuarded(mountPoint, t));
  }

  /** Whether every table's findmnt has watched since before the last read began (and so reported any change since). */
  private unchanged(): boolean {
    if (!this.last || !this.events.length) return false;
    const at = this.last.at;
    return this.events.every((e) => {
      const since = e.watchingSince();
      return since !== null && since <= at;
    });
  }

  async measure(why?: 'cycle' | 'scan'): Promise<Measured[]> {
    if (!this.ctx.cfg.mounts.length && this.atStart === null) return [];
    if (why === 'cycle' && this.unchanged()) return this.last!.items;
    const at = this.ctx.clock.now();
    const read = this.tables.map((_t, i) => this.read(i));
    // A mount is as bad as the worst table that has it says: read-write in the host's table is read-write.
    const out: Measured[] = this.ctx.cfg.mounts.map((m) => {
      const present = read.map((t) => mountState(t, m.path)).filter((x) => x !== 'missing');
      const state = present.length ? present.reduce((a, b) => (WORSE[b] > WORSE[a] ? b : a)) : 'missing';
      return { kind: 'mount' as const, key: m.path, value: { path: m.path, expect: m.expect, state } };
    });
    const watched = new Set(this.ctx.cfg.mounts.map((m) => m.path));
    const covered = new Set<string>();
    read.forEach((t, i) => {
      for (const m of t) if (!watched.has(m.mountPoint) && this.covers(i, m.mountPoint)) covered.add(m.mountPoint);
    });
    for (const mp of covered) out.push({ kind: 'mount', key: mp, value: { path: mp, expect: 'ro', state: 'covered' } });
    this.last = { at, items: out };
    return out;
  }

  async watch(hooks: CheckHooks): Promise<void> {
    this.atStart = this.tables.map((_t, i) => new Set(this.read(i).map((m) => m.mountPoint)));
    this.guarded = buildWatchSet(this.ctx.cfg, this.ctx.configPath, { self: this.ctx.selfPath });
    this.events = this.tables.map(
      (t, i) =>
        new MountEvents({
          clock: this.ctx.clock,
          log: this.ctx.log,
          command: t.command,
          onEvent: (ev) => this.onEvent(i, ev, hooks),
          onTrouble: (message) => {
            this.last = null;
            hooks.trouble({ kind: 'watcher-error', message });
          },
        }),
    );
    for (const e of this.events) e.start();
  }

  private onEvent(i: number, ev: MountEvent, hooks: CheckHooks): void {
    this.last = null;
    // The event's own word first: a change undone before any re-measure still reaches the server.
    for (const m of this.ctx.cfg.mounts) {
      let state: MountEntry['state'] | null = null;
      if (ev.target === m.path) state = ev.action === 'umount' ? 'missing' : roRw(ev.options);
      else if (ev.oldTarget === m.path) state = 'missing';
      if (state) hooks.update('mount', m.path, { path: m.path, expect: m.expect, state });
    }
    if ((ev.action === 'mount' || ev.action === 'move') && !this.ctx.cfg.mounts.some((m) => m.path === ev.target) && this.covers(i, ev.target)) {
      hooks.update('mount', ev.target, { path: ev.target, expect: 'ro', state: 'covered' });
    }
    const from = ev.action === 'move' && ev.oldTarget ? ` from ${printable(ev.oldTarget)}` : '';
    const opts = ev.action === 'remount' ? ` ${roRw(ev.oldOptions)} -> ${roRw(ev.options)}` : ev.action === 'umount' ? '' : ` ${roRw(ev.options)}`;
    // The note also makes the runner re-measure every check: the files under the mount are re-read.
    hooks.trouble({ kind: 'mount-event', message: `${printable(ev.action)}${opts}${from}: ${printable(ev.target)}`.slice(0, 300) });
  }

  async close(): Promise<void> {
    for (const e of this.events) e.stop();
  }
}
