/** One line of /proc/self/mountinfo, the fields a read-only check needs. */
export interface MountInfo {
  mountPoint: string;
  /** Per-mount options (`ro`/`rw`, nosuid, ...). */
  options: string[];
  fsType: string;
  /** Per-superblock options. */
  superOptions: string[];
}

/** Undoes the kernel's octal escapes (`\040` for a space) in mountinfo paths. */
function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Parses /proc/self/mountinfo (proc(5)): `id parent maj:min root mountpoint
 * options [optional fields...] - fstype source superoptions`. Bad lines are skipped.
 */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || dash + 3 > f.length) continue;
    out.push({
      mountPoint: unescapeField(f[4]!),
      options: f[5]!.split(','),
      fsType: f[dash + 1]!,
      superOptions: (f[dash + 3] ?? '').split(','),
    });
  }
  return out;
}

/**
 * The state of the mount visible at `path`: the last one listed for that
 * mount point (a later mount covers an earlier one). Read-only when either
 * the mount or its superblock is `ro`.
 */
export function mountState(mounts: MountInfo[], path: string): 'ro' | 'rw' | 'missing' {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  let m: MountInfo | undefined;
  for (const x of mounts) if (x.mountPoint === p) m = x;
  if (!m) return 'missing';
  return m.options.includes('ro') || m.superOptions.includes('ro') ? 'ro' : 'rw';
}
