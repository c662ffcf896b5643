import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MountEntry } from '../../shared/protocol.ts';
import type { Measured } from '../../shared/state-digest.ts';
import { MountEvents, type MountEvent } from '../watch/mount-events.ts';
import type { Check, CheckContext, CheckHooks } from './check.ts';
import { buildWatchSet, type WatchTarget } from './files/watch-set.ts';
import { mountState, parseMountInfo, type MountInfo } from './mountinfo.ts';

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

/**
 * Mounts meant to be read-only, read from `/proc/self/mountinfo` every cycle
 * and at once on every change of the mount table (`findmnt --poll`, see
 * {@link MountEvents}); and, while watching, every mount that was not there at
 * start and covers a guarded path (state `covered`: a bind mount over a
 * guarded binary shows another file at its path without writing it). Each
 * change is also reported as a `mount-event` note and makes the runner
 * re-measure everything, so the guarded files under the mount are re-checked.
 */
export class MountsCheck implements Check {
  readonly name = 'mounts';
  readonly kind = 'mount' as const;
  readonly cadence = 'cycle' as const;
  /** Mount points present when watching began; null until then (no `covered` entries without it). */
  private atStart: Set<string> | null = null;
  private guarded: WatchTarget[] = [];
  private events: MountEvents | null = null;

  constructor(private readonly ctx: CheckContext, private readonly source = '/proc/self/mountinfo', private readonly command?: string[]) {}

  private read(): MountInfo[] {
    return parseMountInfo(readFileSync(this.source, 'utf8'));
  }

  private covers(mountPoint: string): boolean {
    return this.atStart !== null && !this.atStart.has(mountPoint) && this.guarded.some((t) => coversGuarded(mountPoint, t));
  }

  async measure(): Promise<Measured[]> {
    if (!this.ctx.cfg.mounts.length && this.atStart === null) return [];
    const mounts = this.read();
    const out: Measured[] = this.ctx.cfg.mounts.map((m) => ({
      kind: 'mount' as const, key: m.path, value: { path: m.path, expect: m.expect, state: mountState(mounts, m.path) },
    }));
    const watched = new Set(this.ctx.cfg.mounts.map((m) => m.path));
    for (const mp of new Set(mounts.map((m) => m.mountPoint))) {
      if (watched.has(mp) || !this.covers(mp)) continue;
      out.push({ kind: 'mount', key: mp, value: { path: mp, expect: 'ro', state: 'covered' } });
    }
    return out;
  }

  async watch(hooks: CheckHooks): Promise<void> {
    this.atStart = new Set(this.read().map((m) => m.mountPoint));
    this.guarded = buildWatchSet(this.ctx.cfg, this.ctx.configPath, { self: this.ctx.selfPath });
    this.events = new MountEvents({
      clock: this.ctx.clock,
      log: this.ctx.log,
      command: this.command,
      onEvent: (ev) => this.onEvent(ev, hooks),
      onTrouble: (message) => hooks.trouble({ kind: 'watcher-error', message }),
    });
    this.events.start();
  }

  /** The running findmnt's pid (tests kill it). */
  get watcherPid(): number | undefined {
    return this.events?.pid;
  }

  private onEvent(ev: MountEvent, hooks: CheckHooks): void {
    // The event's own word first: a change undone before any re-measure still reaches the server.
    for (const m of this.ctx.cfg.mounts) {
      let state: MountEntry['state'] | null = null;
      if (ev.target === m.path) state = ev.action === 'umount' ? 'missing' : roRw(ev.options);
      else if (ev.oldTarget === m.path) state = 'missing';
      if (state) hooks.update('mount', m.path, { path: m.path, expect: m.expect, state });
    }
    if ((ev.action === 'mount' || ev.action === 'move') && !this.ctx.cfg.mounts.some((m) => m.path === ev.target) && this.covers(ev.target)) {
      hooks.update('mount', ev.target, { path: ev.target, expect: 'ro', state: 'covered' });
    }
    const from = ev.action === 'move' && ev.oldTarget ? ` from ${printable(ev.oldTarget)}` : '';
    const opts = ev.action === 'remount' ? ` ${roRw(ev.oldOptions)} -> ${roRw(ev.options)}` : ev.action === 'umount' ? '' : ` ${roRw(ev.options)}`;
    // The note also makes the runner re-measure every check: the files under the mount are re-read.
    hooks.trouble({ kind: 'mount-event', message: `${printable(ev.action)}${opts}${from}: ${printable(ev.target)}`.slice(0, 300) });
  }

  async close(): Promise<void> {
    this.events?.stop();
  }
}
