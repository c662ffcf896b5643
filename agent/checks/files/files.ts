import { dirname } from 'node:path';
import type { FileClass, FileEntry } from '../../../shared/protocol.ts';
import type { Measured } from '../../../shared/state-digest.ts';
import { cpuLedger } from '../../cpu-ledger.ts';
import type { WatchSubscription } from '../../watch/backend.ts';
import type { Check, CheckContext, CheckHooks } from '../check.ts';
import { listTree, measurePath } from './file-measure.ts';
import { bootSeconds, ScanHashes } from './scan-hashes.ts';
import { buildWatchSet, WatchIndex, type WatchTarget } from './watch-set.ts';

/** Most paths one host reports; more is a misconfiguration (a `watch` on /), reported rather than scanned forever. */
export const MAX_FILES = 50_000;
/** Files also watched by inode (the agent's own and critical ones first); the full scan covers the rest. */
export const MAX_INODE_WATCHES = 4_096;
const CLASS_ORDER = { self: 0, critical: 1, normal: 2 } as const;

/** Whether a re-measured entry differs from the one held (present/absent, or any field). */
function changed(before: FileEntry | undefined, after: FileEntry | undefined): boolean {
  return JSON.stringify(before ?? null) !== JSON.stringify(after ?? null);
}

/**
 * Guarded files: the full scan hashes every path of the watch set through
 * the niced pool; real-time hints from the watch backends re-measure one
 * path at normal priority and hand the result over at once.
 */
export class FilesCheck implements Check {
  readonly name = 'files';
  readonly kind = 'file' as const;
  readonly cadence = 'scan' as const;
  private set: WatchTarget[];
  private index: WatchIndex;
  private readonly subs: WatchSubscription[] = [];
  /** Directories subscribed to, keyed by backend, directory and depth, so a rebuilt set subscribes only what is new. */
  private readonly subscribed = new Set<string>();
  private rebuildQueued = false;
  /** Paths a rebuild added: their first measurement is no change to what a binary loads. */
  private readonly fresh = new Set<string>();
  private scanned = false;
  private readonly hashes = new ScanHashes();
  private readonly inflight = new Set<string>();
  private readonly dirty = new Set<string>();
  private hooks: CheckHooks | null = null;
  private readonly inodeWatches = new Map<string, { ino: string; close: () => void }>();
  private closed = false;

  constructor(private readonly ctx: CheckContext) {
    this.set = this.build();
    this.index = new WatchIndex(this.set);
  }

  /** The guarded paths, as last built (at start, and again after a change to what a guarded binary loads). */
  get targets(): readonly WatchTarget[] {
    return this.set;
  }

  private build(): WatchTarget[] {
    return buildWatchSet(this.ctx.cfg, this.ctx.configPath, { self: this.ctx.selfPath, ...(this.ctx.root ? { root: this.ctx.root } : {}) });
  }

  /** Every guarded path that exists now. */
  async paths(): Promise<{ path: string; cls: FileClass }[]> {
    const seen = new Map<string, FileClass>();
    for (const t of this.set) {
      if (seen.size >= MAX_FILES) break;
      seen.set(t.path, this.index.classOf(t.path) ?? t.class);
      if (t.dir) {
        for (const p of await listTree(t.path, t.recursive, MAX_FILES - seen.size)) {
          if (!seen.has(p)) seen.set(p, this.index.classOf(p) ?? t.class);
        }
      }
    }
    return [...seen].map(([path, cls]) => ({ path, cls }));
  }

  async measure(): Promise<Measured[]> {
    let found = await this.measureAll();
    // A guarded binary or library changed behind the watchers' back: what it loads now is guarded from this scan on.
    const hooks = this.hooks;
    if (hooks && this.scanned && found.some((e) => this.index.loads(e.path) && changed(hooks.get('file', e.path) as FileEntry | undefined, e)) && this.rebuild()) {
      found = await this.measureAll();
      void this.subscribeAll();
    }
    this.scanned = true;
    if (this.hooks) {
      for (const p of [...this.inodeWatches.keys()]) if (!found.some((e) => e.path === p)) this.armInode(p, null);
      for (const e of [...found].sort((a, b) => CLASS_ORDER[a.class] - CLASS_ORDER[b.class])) this.armInode(e.path, e);
    }
    return found.map((value) => ({ kind: 'file' as const, key: value.path, value }));
  }

  private async measureAll(): Promise<FileEntry[]> {
    const paths = await this.paths();
    const at = bootSeconds();
    const reused = new Set<string>();
    const hooks = this.hooks;
    const scan = this.hashes.forScan((p) => hooks?.get('file', p) as FileEntry | undefined, reused);
    // The pool bounds how many files are hashed at once; lstat calls are cheap.
    const entries = await Promise.all(
      paths.map(({ path, cls }) =>
        measurePath(path, cls, this.ctx.hasher, false, scan(path)).catch((err: Error) => {
          this.ctx.log.warn({ path, err: err.message }, 'cannot measure a guarded path');
          return null;
        }),
      ),
    );
    const found = entries.filter((e): e is FileEntry => e !== null);
    for (const e of found) if (!reused.has(e.path)) this.hashes.record(e.path, at, e);
    return found;
  }

  async watch(hooks: CheckHooks): Promise<void> {
    this.hooks = hooks;
    await this.subscribeAll();
  }

  /** Subscribes every backend to each directory of the set not subscribed yet. */
  private async subscribeAll(): Promise<void> {
    const { primary, fast } = this.ctx.watch;
    for (const { dir, recursive } of this.index.watchDirs()) {
      for (const b of [primary, fast]) {
        if (!b || this.closed) continue;
        // The fast lane watches each directory's direct entries only; the primary, or the fast lane alone, covers the depth.
        const rec = b === primary || !primary ? recursive : false;
        const key = `${b.name}\0${rec}\0${dir}`;
        if (this.subscribed.has(key)) continue;
        this.subscribed.add(key);
        try {
          const sub = await b.subscribe(
            dir,
            rec,
            (ps) => this.onPaths(ps),
            (err) => this.onWatchError(b.name, dir, err),
          );
          // Closed while subscribing (the agent stopped during start): a live
          // subscription would keep the process from exiting.
          if (this.closed) {
            await sub.close().catch(() => undefined);
            return;
          }
          this.subs.push(sub);
        } catch (err) {
          // An absent parent (a guarded dir not created yet) is normal; the full scan covers it.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && !/No such file/i.test((err as Error).message)) this.onWatchError(b.name, dir, err as Error);
        }
      }
    }
  }

  private onWatchError(backend: string, dir: string, err: Error): void {
    if (this.closed) return;
    const overflow = /overflow|dropped/i.test(err.message);
    this.ctx.log.warn({ backend, dir, err: err.message }, 'watcher trouble, full scan follows');
    this.hooks?.trouble({ kind: overflow ? 'overflow' : 'watcher-error', message: `${backend} on ${dir}: ${err.message}`.slice(0, 300) });
  }

  private onPaths(paths: string[]): void {
    this.ctx.log.debug({ paths }, 'watch hint');
    for (const p of paths) void cpuLedger.run('watch hint', () => this.remeasure(p));
  }

  /** Re-measures a path; a hint arriving while it is measured marks it dirty and it is measured once more. */
  private async remeasure(path: string): Promise<void> {
    if (this.closed) return;
    if (this.inflight.has(path)) return void this.dirty.add(path);
    this.inflight.add(path);
    try {
      do {
        this.dirty.delete(path);
        await this.measureOne(path);
      } while (this.dirty.has(path) && !this.closed);
    } catch (err) {
      this.ctx.log.warn({ path, err: (err as Error).message }, 'cannot re-measure a path after an event');
    } finally {
      this.inflight.delete(path);
    }
  }

  private async measureOne(path: string): Promise<void> {
    const hooks = this.hooks!;
    const cls = this.index.classOf(path);
    if (cls === null) {
      // Not guarded itself: maybe a directory above guarded paths was moved or removed.
      const under = this.set.filter((t) => t.path.startsWith(`${path}/`));
      this.ctx.log.debug({ path, outcome: 'unguarded', under: under.length }, 're-measured');
      for (const t of under) void this.remeasure(t.path);
      return;
    }
    const before = hooks.get('file', path) as FileEntry | undefined;
    const at = bootSeconds();
    const e = await measurePath(path, cls, this.ctx.hasher, true);
    this.hashes.record(path, at, e);
    hooks.update('file', path, e);
    this.ctx.log.debug({ path, outcome: changed(before, e ?? undefined) ? 'changed' : 'same', hashed: Boolean(e?.sha256) }, 're-measured');
    this.armInode(path, e);
    if (!this.fresh.delete(path) && this.index.loads(path) && changed(before, e ?? undefined)) this.queueRebuild();
    if (e?.type !== 'dir') {
      if (before?.type === 'dir') this.dropUnder(path);
      return;
    }
    // A directory that is new here (created, or moved in with its content): take its entries too.
    const target = this.set.find((t) => t.path === path) ?? this.dirTargetOver(path);
    if (target && (!before || before.ino !== e.ino)) {
      const recursive = target.recursive;
      const seen = new Set(await listTree(path, recursive, MAX_FILES));
      for (const p of seen) void this.remeasure(p);
      for (const k of [...hooks.keys('file')]) if (k.startsWith(`${path}/`) && !seen.has(k)) hooks.update('file', k, null);
    }
  }

  /** Keeps one inode watch per regular file, re-armed when the path's inode changes. */
  private armInode(path: string, e: FileEntry | null): void {
    const fast = this.ctx.watch.fast;
    if (!fast?.watchFile || this.closed) return;
    const old = this.inodeWatches.get(path);
    if (old && e?.type === 'file' && old.ino === e.ino) return;
    if (old) {
      old.close();
      this.inodeWatches.delete(path);
    }
    if (e?.type !== 'file' || this.inodeWatches.size >= MAX_INODE_WATCHES) return;
    const close = fast.watchFile(path, () => void this.remeasure(path));
    if (close) this.inodeWatches.set(path, { ino: e.ino, close });
  }

  /** Rebuilds the set once after a burst of changes (an atomic replace is several events). */
  private queueRebuild(): void {
    if (this.rebuildQueued || this.closed) return;
    this.rebuildQueued = true;
    setImmediate(() => {
      this.rebuildQueued = false;
      if (this.closed || !this.rebuild()) return;
      const hooks = this.hooks!;
      // Paths that left the set are no longer reported; new ones are measured and watched like the rest.
      for (const k of [...hooks.keys('file')]) {
        if (this.index.classOf(k) !== null) continue;
        hooks.update('file', k, null);
        this.armInode(k, null);
      }
      for (const t of this.set) {
        const held = hooks.get('file', t.path) as FileEntry | undefined;
        if (held && held.class === this.index.classOf(t.path)) continue;
        if (!held) this.fresh.add(t.path);
        void this.remeasure(t.path);
      }
      void this.subscribeAll();
    });
  }

  /**
   * Builds the set again; true when it differs. The libraries a guarded binary
   * loads are read from its ELF headers, so a replaced binary brings its own.
   */
  private rebuild(): boolean {
    let next: WatchTarget[];
    try {
      next = this.build();
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'cannot rebuild the watch set; keeping the one in force');
      return false;
    }
    const shape = (ts: readonly WatchTarget[]) => JSON.stringify(ts.map((t) => [t.path, t.class, t.dir, t.recursive, Boolean(t.loads)]));
    if (shape(next) === shape(this.set)) return false;
    const before = new Set(this.set.map((t) => t.path));
    this.ctx.log.info({ added: next.filter((t) => !before.has(t.path)).length, targets: next.length }, 'what a guarded binary loads changed; watch set rebuilt');
    this.set = next;
    this.index = new WatchIndex(next);
    return true;
  }

  private dirTargetOver(path: string): WatchTarget | undefined {
    let p = dirname(path);
    for (;;) {
      const t = this.set.find((x) => x.dir && x.path === p && x.recursive);
      if (t) return t;
      if (p === '/') return undefined;
      p = dirname(p);
    }
  }

  private dropUnder(path: string): void {
    const hooks = this.hooks!;
    for (const k of [...hooks.keys('file')]) if (k.startsWith(`${path}/`)) hooks.update('file', k, null);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.inodeWatches.values()) w.close();
    this.inodeWatches.clear();
    await Promise.all(this.subs.splice(0).map((s) => s.close().catch(() => undefined)));
  }
}
