import type { FileEntry } from '../../shared/protocol.ts';
import { sameContent } from '../fleet/sample-match.ts';
import type { Db } from '../storage/db.ts';
import type { BaselineStore } from './baseline-store.ts';

/** What `accept --group` did: the paths each host took, and what was left because it matches no sample. */
export interface GroupAcceptResult {
  perHost: Map<string, string[]>;
  left: { host: string; path: string }[];
}

/**
 * `accept --group G PATH...` over `hosts` (the group's hosts with a
 * baseline): the sample hosts' current state of the paths becomes their
 * baseline, and every other host takes the paths whose content matches a
 * sample's accepted content. What matches no sample (a different content, or
 * a removal) is left alone and listed: that is where to look; accept it by
 * host if it is right. A group without sample hosts
 * accepts the paths on every host (the issue-3 behaviour). One transaction.
 */
export function acceptGroup(db: Db, store: BaselineStore, hosts: string[], paths: string[], now: number): GroupAcceptResult {
  const isSample = db.prepare('SELECT sample FROM hosts WHERE host = ?').pluck();
  const filesOf = db.prepare(`SELECT key, baseline, current FROM measured WHERE host = ? AND kind = 'file'`);
  const baselineOf = db.prepare(`SELECT baseline FROM measured WHERE host = ? AND kind = 'file' AND key = ?`).pluck();
  const under = (key: string) =>
    paths.some((p) => {
      const q = p.length > 1 ? p.replace(/\/+$/, '') : p;
      return key === q || key.startsWith(q === '/' ? '/' : `${q}/`);
    });
  return db
    .transaction((): GroupAcceptResult => {
      const samples = hosts.filter((h) => isSample.get(h) === 1);
      const perHost = new Map<string, string[]>();
      const left: { host: string; path: string }[] = [];
      if (!samples.length) {
        for (const h of hosts) perHost.set(h, store.accept(h, paths, now).accepted);
        return { perHost, left };
      }
      for (const h of samples) perHost.set(h, store.accept(h, paths, now).accepted);
      for (const h of hosts) {
        if (samples.includes(h)) continue;
        const take: string[] = [];
        for (const row of filesOf.all(h) as { key: string; baseline: string | null; current: string | null }[]) {
          if (!under(row.key) || row.baseline === row.current) continue;
          const cur = row.current === null ? null : (JSON.parse(row.current) as FileEntry);
          // A removal is never taken from the samples: a sample that does not have the path cannot
          // tell "removed by the upgrade" from "never there", and a deleted guarded binary is an attack too.
          const matches =
            cur !== null &&
            samples.some((sh) => {
              const b = baselineOf.get(sh, row.key) as string | null | undefined;
              return !!b && sameContent(JSON.parse(b) as FileEntry, cur);
            });
          if (matches) take.push(row.key);
          else left.push({ host: h, path: row.key });
        }
        perHost.set(h, take.length ? store.accept(h, take, now).accepted : []);
      }
      return { perHost, left };
    })
    .immediate();
}
