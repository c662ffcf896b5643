/**
 * A source of file-system change hints. Backends only say which path may
 * have changed; the files check re-measures it, so a duplicate or spurious
 * hint costs a hash, never a false alarm.
 */
export interface WatchBackend {
  readonly name: string;
  /**
   * Watches `dir` (its direct entries, or every level when `recursive`).
   * `onPaths` gets absolute paths that may have changed; `onError` means
   * events may have been lost (overflow, a watch removed) and a full scan is due.
   */
  subscribe(dir: string, recursive: boolean, onPaths: (paths: string[]) => void, onError: (err: Error) => void): Promise<WatchSubscription>;
  /**
   * Watches one file's inode (optional). Needed for what a directory watch
   * never hears: a hard link made elsewhere changes the link count, and the
   * kernel reports that IN_ATTRIB to watches on the inode alone. Returns a
   * closer, or null when the file cannot be watched.
   */
  watchFile?(path: string, onChange: () => void): (() => void) | null;
}

export interface WatchSubscription {
  close(): Promise<void>;
}
