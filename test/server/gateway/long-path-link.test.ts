/**
 * A path at the protocol's limit over the real link, on each engine: a ServerApp on a real data dir and
 * loopback TLS, a scripted agent that sends the event as a spooled record. The record must be acknowledged
 * and its alarms opened; on PostgreSQL before migration 17 the write failed, the server closed the
 * connection with a server error, and the agent's resend of the same record failed the same way for ever.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ServerApp } from '../../../server/server-app.ts';
import { openDatabase } from '../../../server/storage/db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { enrollDirect } from '../../faults/fault-kit.ts';
import { CheckerClient } from '../../helpers/checker-client.ts';
import { initServer } from '../../helpers/cluster.ts';
import { ENGINES, freshPgDatabase, PG_SKIP } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { waitFor } from '../../helpers/wait.ts';

// 4,096 UTF-16 units of random CJK characters under nested 200-character names: ~12 KB of UTF-8.
const bytes = randomBytes(8192);
let wide = '/etc';
for (let i = 0; wide.length < 4096; i++) wide += i % 200 === 0 ? '/' : String.fromCharCode(0x4e00 + ((bytes[i % bytes.length]! << 5) | (i % 32)));

for (const engine of ENGINES) {
  describe(`a long path over the link [${engine}]`, engine === 'postgres' && PG_SKIP ? { skip: PG_SKIP } : {}, () => {
    let app: ServerApp | undefined;
    let drop: (() => Promise<void>) | undefined;
    after(async () => {
      await app?.stop();
      await drop?.();
    });

    test('the spooled event is acknowledged and its alarms open beside the normal change', async () => {
      const { dir } = initServer();
      const [id] = await enrollDirect(dir, ['alpha']);
      if (engine === 'postgres') {
        const pg = await freshPgDatabase();
        drop = pg.drop;
        const cfg = join(dir, 'server.yml');
        writeFileSync(
          cfg,
          `${readFileSync(cfg, 'utf8')
            .replace(/^database: .*\n/m, '')
            .replace(/\n?$/, '\n')}database: ${pg.url}\n`,
        );
      }
      const clock = new FakeClock(Date.now());
      app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock, log: silentLogger(), channels: [] });
      const port = (await app.start()).gateway.port;
      assert.equal(app.ctx.sql.engine, engine);
      if (engine === 'postgres') {
        // enrollDirect wrote the host into the SQLite file; the same row in the shared database.
        const lite = openDatabase(join(dir, 'tripwarden.db'));
        const row = lite.prepare(`SELECT host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at FROM hosts WHERE host = 'alpha'`).get() as Record<
          string,
          unknown
        >;
        lite.close();
        await app.ctx.sql.run(
          'INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES (@host, @grp, @status, @status_changed_at, @cert_serial, @cert_sha256, @enrolled_at)',
          row,
        );
      }
      const agent = new CheckerClient(id!, port);
      await agent.connect([]);
      agent.report([fileEntry('/etc/passwd')]);
      await waitFor(() => app!.ctx.baselines.hasBaseline('alpha'), { what: 'baseline' });

      const event = { kind: 'event', files: [fileEntry(wide), fileEntry('/etc/passwd', { size: 9 })], gone: [], daemons: [], mounts: [], notes: [] };
      await agent.record(event as never);
      const open = (await app.ctx.alarms.list({ open: true, host: 'alpha' })).map((a) => `${a.kind} ${a.subject === wide ? 'WIDE' : a.subject}`);
      assert.deepEqual(open.sort(), ['file-added WIDE', 'file-changed /etc/passwd']);
      assert.equal(agent.frames.filter((f) => f.type === 'spool-ack').length, 1);
    });
  });
}
