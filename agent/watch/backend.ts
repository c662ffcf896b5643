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
}

export interface WatchSubscription {
  close(): Promise<void>;
}
