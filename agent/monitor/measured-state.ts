import { canonicalJson, type EntryKind, type Measured, stateDigest } from '../../shared/state-digest.ts';
import { type ValueOf, valuesIn } from '../checks/kinds/kind.ts';
import { KINDS } from '../checks/kinds/registry.ts';

type Value = Measured['value'];

/** Everything measured, by kind and key, with the digest the heartbeat carries. */
export class MeasuredState {
  private readonly items = new Map<EntryKind, Map<string, { value: Value; json: string }>>(KINDS.map((k) => [k.kind, new Map()]));
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

  /** Every value of one kind. */
  values<K extends EntryKind>(kind: K): ValueOf<K>[] {
    return [...this.items.get(kind)!.values()].map((v) => v.value as ValueOf<K>);
  }

  /** Plain data for the state file: each kind's values under its wire field (`files`, `daemons`, …), and the digest. */
  toJSON(): Record<string, unknown> & { digest: string } {
    const out: Record<string, unknown> = {};
    for (const k of KINDS) out[k.field] = this.values(k.kind);
    return { ...out, digest: this.digest() };
  }

  static fromJSON(o: object): MeasuredState {
    const s = new MeasuredState();
    for (const k of KINDS) for (const v of valuesIn(k, o)) s.set(k.kind, k.keyOf(v), v);
    return s;
  }
}
