import { canonicalJson, stateDigest, type EntryKind, type Measured } from '../../shared/state-digest.ts';
import { portKey, type DaemonEntry, type FileEntry, type MountEntry, type PortEntry } from '../../shared/protocol.ts';

type Value = Measured['value'];

/** Everything measured, by kind and key, with the digest the heartbeat carries. */
export class MeasuredState {
  private readonly items = new Map<EntryKind, Map<string, { value: Value; json: string }>>([
    ['file', new Map()], ['daemon', new Map()], ['mount', new Map()], ['port', new Map()],
  ]);
  private digestCache: string | undefined;

  /** Sets an item (null removes it); returns true when that changed anything. */
  set(kind: EntryKind, key: string, value: Value | null): boolean {
    const m = this.items.get(kind)!;
    if (value === null) {
      if (!m.delete(key)) return false;
    } else {
      const json = canonicalJson(value);
      if (m.get(key)?.json === json) return false;
      m.set(key, { value, json });
    }
    this.digestCache = undefined;
    return true;
  }

  get(kind: EntryKind, key: string): Value | undefined {
    return this.items.get(kind)!.get(key)?.value;
  }

  keys(kind: EntryKind): string[] {
    return [...this.items.get(kind)!.keys()];
  }

  get size(): number {
    let n = 0;
    for (const m of this.items.values()) n += m.size;
    return n;
  }

  /** SHA-256 of the whole state, as {@link stateDigest} defines it (the server computes the same). */
  digest(): string {
    if (this.digestCache === undefined) {
      const all: { kind: EntryKind; key: string; json: string }[] = [];
      for (const [kind, m] of this.items) for (const [key, v] of m) all.push({ kind, key, json: v.json });
      this.digestCache = stateDigest(all);
    }
    return this.digestCache;
  }

  files(): FileEntry[] {
    return [...this.items.get('file')!.values()].map((v) => v.value as FileEntry);
  }
  daemons(): DaemonEntry[] {
    return [...this.items.get('daemon')!.values()].map((v) => v.value as DaemonEntry);
  }
  mounts(): MountEntry[] {
    return [...this.items.get('mount')!.values()].map((v) => v.value as MountEntry);
  }
  ports(): PortEntry[] {
    return [...this.items.get('port')!.values()].map((v) => v.value as PortEntry);
  }

  /** Plain data for the state file. */
  toJSON(): { files: FileEntry[]; daemons: DaemonEntry[]; mounts: MountEntry[]; ports: PortEntry[]; digest: string } {
    return { files: this.files(), daemons: this.daemons(), mounts: this.mounts(), ports: this.ports(), digest: this.digest() };
  }

  static fromJSON(o: { files?: FileEntry[]; daemons?: DaemonEntry[]; mounts?: MountEntry[]; ports?: PortEntry[] }): MeasuredState {
    const s = new MeasuredState();
    for (const f of o.files ?? []) s.set('file', f.path, f);
    for (const d of o.daemons ?? []) s.set('daemon', d.name, d);
    for (const m of o.mounts ?? []) s.set('mount', m.path, m);
    for (const p of o.ports ?? []) s.set('port', portKey(p), p);
    return s;
  }
}
