import { dirname } from 'node:path';
import type { FileClass, FileEntry } from '../../../shared/protocol.ts';
import type { Measured } from '../../../shared/state-digest.ts';
import type { WatchSubscription } from '../../watch/backend.ts';
import type { Check, CheckContext, CheckHooks } from '../check.ts';
import { listTree, measurePath } from './file-measure.ts';
import { buildWatchSet, WatchIndex, type WatchTarget } from './watch-set.ts';

/** Most paths one host reports; more is a misconfiguration (a `watch` on /), reported rather than scanned forever. */
export const MAX_FILES = 50_000;
/** Files also watched by inode (the agent's own and critical ones first); the full scan covers the rest. */
export const MAX_INODE_WATCHES = 4_096;
const CLASS_ORDER = { self: 0, critical: 1, normal: 2 } as const;

/**
 * Guarded files: the full scan hashes every path of the watch set through
 * the niced pool; real-time hints from the watch backends re-measure one
 * path at normal priority and hand the result over at once.
 */
export class FilesCheck implements Check {
  readonly name = 'files';
  readonly kind = 'file' as const;
  readonly cadence = 'scan' as const;
  readonly targets: WatchTarget[];
  private readonly index: WatchIndex;
  private readonly subs: WatchSubscription[] = [];
  private readonly inflight = new Set<string>();
  private readonly dirty = new Set<string>();
  private hooks: CheckHooks | null = null;
  private readonly inodeWatches = new Map<string, { ino: string; close: () => void }>();
  private closed = false;

  constructor(private readonly ctx: CheckContext) {
    this.targets = buildWatchSet(ctx.cfg, ctx.configPath, { self: ctx.selfPath });
    this.index = new WatchIndex(this.targets);
  }

  /** Every guarded path that exists now. */
  async paths(): Promise<{ path: string; cls: FileClass }[]> {
    const seen = new Map<string, FileClass>();
    for (const t of this.targets) {
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
    const paths = await this.paths();
    // The pool bounds how many files are hashed at once; lstat calls are cheap.
    const entries = await Promise.all(
      paths.map(({ path, cls }) =>
        measurePath(path, cls, this.ctx.hasher, false).catch((err: Error) => {
          this.ctx.log.warn({ path, err: err.message }, 'cannot measure a guarded path');
          return null;
        }),
      ),
    );
    const found = entries.filter((e): e is FileEntry => e !== null);
    if (this.hooks) {
      for (const p of [...this.inodeWatches.keys()]) if (!found.some((e) => e.path === p)) this.armInode(p, null);
      for (const e of [...found].sort((a, b) => CLASS_ORDER[a.class] - CLASS_ORDER[b.class])) this.armInode(e.path, e);
    }
    return found.map((value) => ({ kind: 'file' as const, key: value.path, value }));
  }

  async watch(hooks: CheckHooks): Promise<void> {
    this.hooks = hooks;
    const { primary, fast } = this.ctx.watch;
    for (const { dir, recursive } of this.index.watchDirs()) {
      for (const b of [primary, fast]) {
        if (!b) continue;
        // The fast lane watches each directory's direct entries only; the primary covers the depth.
        const rec = b === primary ? recursive : false;
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
    for (const p of paths) void this.remeasure(p);
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
      const under = this.targets.filter((t) => t.path.startsWith(`${path}/`));
      for (const t of under) void this.remeasure(t.path);
      return;
    }
    const before = hooks.get('file', path) as FileEntry | undefined;
    const e = await measurePath(path, cls, this.ctx.hasher, true);
    hooks.update('file', path, e);
    this.armInode(path, e);
    if (e?.type !== 'dir') {
      if (before?.type === 'dir') this.dropUnder(path);
      return;
    }
    // A directory that is new here (created, or moved in with its content): take its entries too.
    const target = this.targets.find((t) => t.path === path) ?? this.dirTargetOver(path);
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

  private dirTargetOver(path: string): WatchTarget | undefined {
    let p = dirname(path);
    for (;;) {
      const t = this.targets.find((x) => x.dir && x.path === p && x.recursive);
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
