import type { FileEntry } from '../../shared/protocol.ts';
import { sameContent } from '../fleet/sample-match.ts';
import type { SqlDb } from '../storage/engine.ts';
import { textKeyIs } from '../storage/text-key.ts';
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
export function acceptGroup(sql: SqlDb, store: BaselineStore, hosts: string[], paths: string[], now: number): Promise<GroupAcceptResult> {
  const under = (key: string) =>
    paths.some((p) => {
      const q = p.length > 1 ? p.replace(/\/+$/, '') : p;
      return key === q || key.startsWith(q === '/' ? '/' : `${q}/`);
    });
  return sql.tx(async (tx): Promise<GroupAcceptResult> => {
    const samples: string[] = [];
    for (const h of hosts) if ((await tx.get<{ sample: number }>('SELECT sample FROM hosts WHERE host = ?', [h]))?.sample === 1) samples.push(h);
    const perHost = new Map<string, string[]>();
    const left: { host: string; path: string }[] = [];
    if (!samples.length) {
      for (const h of hosts) perHost.set(h, (await store.accept(h, paths, now, tx)).accepted);
      return { perHost, left };
    }
    for (const h of samples) perHost.set(h, (await store.accept(h, paths, now, tx)).accepted);
    for (const h of hosts) {
      if (samples.includes(h)) continue;
      const take: string[] = [];
      const rows = await tx.all<{ key: string; baseline: string | null; current: string | null }>(`SELECT key, baseline, current FROM measured WHERE host = ? AND kind = 'file'`, [
        h,
      ]);
      for (const row of rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
        if (!under(row.key) || row.baseline === row.current) continue;
        const cur = row.current === null ? null : (JSON.parse(row.current) as FileEntry);
        // A removal is never taken from the samples: a sample that does not have the path cannot
        // tell "removed by the upgrade" from "never there", and a deleted guarded binary is an attack too.
        let matches = false;
        for (const sh of cur === null ? [] : samples) {
          const b = (
            await tx.get<{ baseline: string | null }>(`SELECT baseline FROM measured WHERE host = @host AND kind = 'file' AND ${textKeyIs(tx.engine, 'key', '@key')}`, {
              host: sh,
              key: row.key,
            })
          )?.baseline;
          if (b && sameContent(JSON.parse(b) as FileEntry, cur!)) {
            matches = true;
            break;
          }
        }
        if (matches) take.push(row.key);
        else left.push({ host: h, path: row.key });
      }
      perHost.set(h, take.length ? (await store.accept(h, take, now, tx)).accepted : []);
    }
    return { perHost, left };
  });
}
