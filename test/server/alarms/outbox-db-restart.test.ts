/**
 * The outbox when PostgreSQL goes away in the middle of a pass (a cluster of the test's own, pg-cluster.ts):
 * a notice sent while the database stops is marked sent at the first pass after it is back, never sent
 * again, and never held for the claim timeout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AlarmStore } from '../../../server/alarms/alarm-store.ts';
import type { AlarmChannel, AlarmNotice } from '../../../server/alarms/channels/channel.ts';
import { Outbox } from '../../../server/alarms/outbox.ts';
import { OutboxWorker } from '../../../server/alarms/outbox-worker.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { PG_CLUSTER_SKIP, PgCluster } from '../../helpers/pg-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';

const opts = PG_CLUSTER_SKIP ? { skip: PG_CLUSTER_SKIP } : {};
let cluster: PgCluster | undefined;
let db: SqlDb | undefined;

before(async () => {
  if (PG_CLUSTER_SKIP) return;
  cluster = await PgCluster.create();
  db = openSqlDb(cluster.url(), PG_MIGRATIONS);
  await db.ready();
});

after(async () => {
  await db?.close();
  await cluster?.close();
});

test('a notice sent as the database stops: marked sent once it is back, at the next pass, and sent only once', opts, async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const sent: number[] = [];
  let stopOnSend = true;
  // A channel that delivers, while the database goes down under the worker (between the send and its mark).
  const channel: AlarmChannel = {
    name: 'mail',
    async send(n: AlarmNotice) {
      sent.push(n.eventId);
      if (stopOnSend) {
        stopOnSend = false;
        await cluster!.stop();
      }
      return { messageId: `<m${sent.length}@test>` };
    },
    async close() {},
  };
  const worker = new OutboxWorker(new Outbox(db!, 'mail'), channel, { clock, log: silentLogger(), backoffMs: 1000 });
  await db!.run(`INSERT INTO hosts (host, grp, enrolled_at) VALUES ('web1', 'web', ?)`, [clock.now()]);
  await new AlarmStore(db!).open('web1', 'file-changed', '/etc/passwd changed', clock.now());

  await worker.runOnce();
  assert.equal(sent.length, 1, 'sent once, then the database stopped');
  await cluster!.start();
  await waitFor(async () => (await db!.get('SELECT 1 AS one').catch(() => undefined)) !== undefined, { what: 'the database back', timeoutMs: 15_000 });

  // The next passes, a few seconds on (well within the 5-minute claim timeout).
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await worker.runOnce();
  }
  const rows = await db!.all<{ state: string; messageId: string | null }>(`SELECT state, message_id AS "messageId" FROM deliveries WHERE channel = 'mail'`);
  assert.deepEqual(rows, [{ state: 'sent', messageId: '<m1@test>' }], 'marked sent with the message that went');
  assert.equal(sent.length, 1, 'not sent again');
});
