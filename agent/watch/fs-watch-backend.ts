import { type FSWatcher, watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { WatchBackend, WatchSubscription } from './backend.ts';

/**
 * Node's fs.watch (libuv inotify, one watch per directory). It delivers each
 * event as soon as the kernel does, with no batching and no thread of its own
 * (libuv reads the inotify fd on the main loop). Recursive trees get one watch
 * per subdirectory, new ones added as they appear.
 */
export class FsWatchBackend implements WatchBackend {
  readonly name = 'fs.watch';
  constructor(private readonly maxDirs = 4096) {}

  watchFile(path: string, onChange: () => void): (() => void) | null {
    try {
      const w = watch(path, { persistent: false }, () => onChange());
      // The inode went away (replaced, deleted): the re-measure that follows re-arms on the new one.
      w.on('error', () => w.close());
      return () => w.close();
    } catch {
      return null;
    }
  }

  async subscribe(dir: string, recursive: boolean, onPaths: (p: string[]) => void, onError: (e: Error) => void): Promise<WatchSubscription> {
    const watchers = new Map<string, FSWatcher>();
    let closed = false;
    const add = (d: string) => {
      if (closed || watchers.has(d)) return;
      if (watchers.size >= this.maxDirs) return onError(new Error(`more than ${this.maxDirs} directories under ${dir}; deeper changes wait for the full scan`));
      let w: FSWatcher;
      try {
        w = watch(d, { persistent: false }, (_ev, name) => {
          if (name === null) return onPaths([d]);
          const p = join(d, name.toString());
          onPaths([p]);
          if (recursive) void addTree(p);
        });
      } catch (err) {
        if (d === dir) throw err;
        return; // a subdirectory that vanished meanwhile
      }
      w.on('error', (err) => {
        watchers.delete(d);
        // The watched directory itself went away: report so a full scan settles it.
        onError(err);
      });
      watchers.set(d, w);
    };
    const addTree = async (d: string) => {
      if (!recursive || closed) return;
      let ents;
      try {
        ents = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      add(d);
      for (const e of ents) if (e.isDirectory()) await addTree(join(d, e.name));
    };
    add(dir);
    if (recursive) await addTree(dir);
    return {
      close: async () => {
        closed = true;
        for (const w of watchers.values()) w.close();
        watchers.clear();
      },
    };
  }
}
