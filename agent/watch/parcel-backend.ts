import type { WatchBackend, WatchSubscription } from './backend.ts';

/** The part of the @parcel/watcher API this backend uses (so a test or the SEA loader can hand in any implementation). */
export interface ParcelApi {
  subscribe(
    dir: string,
    fn: (err: Error | null, events: { path: string; type: string }[]) => void,
    opts?: { ignore?: (string | RegExp)[] },
  ): Promise<{ unsubscribe(): Promise<void> }>;
}

/**
 * @parcel/watcher subscriptions (inotify on Linux). Subscribing to a parent
 * directory sees an atomic `mv new cron` replace as a new entry, not a lost
 * inode. @parcel/watcher always watches a whole tree; for a directory whose
 * direct entries alone matter, deeper paths are ignored so no inotify watch
 * is spent on them.
 */
export class ParcelBackend implements WatchBackend {
  readonly name = 'parcel';
  constructor(private readonly api: ParcelApi) {}

  async subscribe(dir: string, recursive: boolean, onPaths: (p: string[]) => void, onError: (e: Error) => void): Promise<WatchSubscription> {
    const sub = await this.api.subscribe(
      dir,
      (err, events) => {
        if (err) return onError(err);
        if (events.length) onPaths(events.map((e) => e.path));
      },
      recursive ? {} : { ignore: ['*/**'] },
    );
    return { close: () => sub.unsubscribe() };
  }
}
