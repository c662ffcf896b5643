import type { FileEntry } from '../../shared/protocol.ts';

/** A regular file as the agent measures it, with fixed metadata; `over` changes what a test is about. */
export function fileEntry(path: string, over: Partial<FileEntry> = {}): FileEntry {
  return { path, class: 'normal', type: 'file', sha256: 'a'.repeat(64), size: 1, mode: 0o100644, uid: 0, gid: 0, ino: '1', nlink: 1, mtime: '1', ctime: '1', ...over };
}
