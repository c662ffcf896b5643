import type { Queryable } from '../storage/engine.ts';

/**
 * Records that heartbeats of this boot of the host carried the state digest (table `digest_boots`, one row
 * per host): every instance sharing the database reads it at the boot's next hello with the host row
 * (HostStore.getForHello), so a connection of that boot elsewhere owes digests and a report as it would here.
 * Called once per boot and instance, at its first digested heartbeat: never on the heartbeat's own path.
 */
export async function recordDigestBoot(q: Queryable, host: string, bootId: string, now: number): Promise<void> {
  await q.run(
    'INSERT INTO digest_boots (host, boot_id, noted_at) VALUES (?, ?, ?) ON CONFLICT (host) DO UPDATE SET boot_id = excluded.boot_id, noted_at = excluded.noted_at WHERE digest_boots.boot_id != excluded.boot_id',
    [host, bootId, now],
  );
}
