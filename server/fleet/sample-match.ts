/**
 * Sample hosts: how a file change on one host is classified against
 * the other hosts of its group, as a pure function (no database). A routine
 * package upgrade changes the same binaries on every host of a group; once
 * the change is accepted on a sample host, the same content elsewhere is
 * `expected` (a warning, folded in reports). Content nobody else in the group
 * has is an `outlier`: the intruder's patched cron.
 */
import type { FileEntry } from '../../shared/protocol.ts';

/** Another host of the group and its state of the same path. */
export interface PeerState {
  host: string;
  sample: boolean;
  /** The peer's accepted state of the path (null: not in its baseline). */
  baseline: FileEntry | null;
  /** The peer's state now (null: absent or never reported). */
  current: FileEntry | null;
}

/** What a change is, relative to the group. */
export interface ChangeClass {
  /** The sample host whose accepted state this is, and its content hash; null when no sample has it. */
  expected: { sample: string; sha256: string } | null;
  /** True when other hosts of the group report the path and none has this content. */
  outlier: boolean;
  /** Other hosts of the group reporting the path now, and how many of them have the same content. */
  peers: number;
  same: number;
}

/**
 * The fields that make "the same content" across hosts: what the package
 * manager writes (content, type, permissions, owner, link target). Inode,
 * times and link count differ from host to host and are left out; a changed
 * mode or owner with the sample's hash is *not* the sample's state (a setuid
 * bit added to a sample's binary stays critical).
 */
export function sameContent(a: FileEntry, b: FileEntry): boolean {
  return (
    a.type === b.type &&
    a.sha256 === b.sha256 &&
    a.size === b.size &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    (a.target ?? null) === (b.target ?? null) &&
    !a.error &&
    !b.error
  );
}

/**
 * {@link sameContent} in SQL, over the canonical JSON of a FileEntry: a text that is equal for two files
 * exactly when sameContent holds, NULL for a file that is never the same as anything (no hash, or an error).
 * Migration 8's triggers and counts (`path_contents`) are built from it: changing it needs a new migration
 * that recreates those triggers and counts again, or existing databases keep counting the old key.
 */
export function contentKey(json: string): string {
  const f = (field: string) => `json_extract(${json}, '$.${field}')`;
  return `(CASE WHEN ${f('sha256')} IS NOT NULL AND COALESCE(${f('error')}, '') = '' THEN json_array(${['type', 'sha256', 'size', 'mode', 'uid', 'gid', 'target'].map(f).join(', ')}) END)`;
}

/**
 * Classifies the current state of a path on a host that differs from its
 * baseline. `self` is whether this host is itself a sample; `cls` the
 * path's class. A sample's own changes, the agent's own files (`self` class)
 * and content that cannot be compared (no hash: unreadable, gone) are never
 * expected: they are exactly what an operator must look at.
 */
export function classifyChange(
  current: FileEntry | null,
  o: { isSample: boolean; cls: FileEntry['class']; peers: readonly PeerState[]; reporting?: number; same?: number },
): ChangeClass {
  // `reporting` and `same`: the group's counts when `peers` holds only the samples (GroupPeers.judgingPeers);
  // otherwise counted here over every peer.
  const reporting = o.peers.filter((p) => p.current !== null);
  const reportingCount = o.reporting ?? reporting.length;
  const comparable = current !== null && current.sha256 !== undefined && !current.error;
  const same = !comparable ? 0 : (o.same ?? reporting.filter((p) => sameContent(p.current!, current)).length);
  let expected: ChangeClass['expected'] = null;
  if (comparable && !o.isSample && o.cls !== 'self') {
    const sample = o.peers.filter((p) => p.sample && p.baseline !== null && sameContent(p.baseline, current)).sort((a, b) => a.host.localeCompare(b.host))[0];
    if (sample) expected = { sample: sample.host, sha256: current.sha256! };
  }
  return { expected, outlier: comparable && reportingCount > 0 && same === 0, peers: reportingCount, same };
}
