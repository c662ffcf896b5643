/** The sweep is a long-lived loop: one host it cannot process must not stop the others' alarms (STYLE habit 7). */

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Liveness } from '../../../server/liveness/liveness.ts';
import type { SqlDb } from '../../../server/storage/engine.ts';
import { createLogger } from '../../../shared/log.ts';
import { describeEngines } from '../../helpers/engines.ts';
import { helloMsg } from '../../helpers/server-db.ts';
import { livenessFixture } from './liveness-fixture.ts';

async function setup(db: SqlDb) {
  const s = livenessFixture(db);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = createLogger('test', { level: 'info', destination: sink });
  const liveness = new Liveness(s.db, { alarms: s.alarms, hosts: s.hosts, rollup: s.rollup }, s.clock, { graceMs: 5_000, maxIntervalMs: 300_000, log });
  for (const h of ['bad', 'good']) {
    await s.addHost(h);
    await liveness.hello(h, helloMsg());
  }
  // A row the code cannot read: facts that are not JSON (a hand edit, a damaged page).
  await s.db.run(`UPDATE hosts SET facts = '{"hostname":' WHERE host = 'bad'`);
  return { ...s, liveness, lines };
}

describeEngines('the sweep past a host it cannot read', ({ open }) => {
  test('a host the sweep cannot process is logged and set aside; the other host still gets its alarm', async () => {
    const s = await setup(await open());
    s.clock.advance(30_000); // past 2 × interval + grace for both
    await assert.doesNotReject(s.liveness.sweep());
    assert.equal((await s.host('good')).status, 'missing');
    assert.deepEqual(await s.openKinds('good'), ['agent-missing']);
    const failed = s.lines.filter((l) => l.host === 'bad' && l.level === 50);
    assert.equal(failed.length, 1, 'one error line, naming the host');
    assert.match(String(failed[0]!.msg), /sweep failed on this host/);
    assert.match(String(failed[0]!.err), /JSON/);
  });

  test('the failing host is looked at again one interval later, not on every tick', async () => {
    const s = await setup(await open());
    s.clock.advance(30_000);
    await s.liveness.sweep();
    const late = async () => (await s.db.get<{ late_at: number }>(`SELECT late_at FROM hosts WHERE host = 'bad'`))!.late_at;
    assert.equal(await late(), s.clock.now() + 10_000, 'its deadline moved one interval on');
    for (let i = 0; i < 39; i++) {
      s.clock.advance(250);
      assert.equal(await s.liveness.sweep(), 0, 'nothing due while it waits');
    }
    s.clock.advance(250);
    assert.equal(await s.liveness.sweep(), 1, 'due again after one interval');
    assert.equal(s.lines.filter((l) => l.host === 'bad' && l.level === 50).length, 2);
    // Once the row can be read again, the next look gives the host its status and alarm.
    await s.db.run(`UPDATE hosts SET facts = '{}' WHERE host = 'bad'`);
    s.clock.advance(10_000);
    await s.liveness.sweep();
    assert.equal((await s.host('bad')).status, 'missing');
    assert.deepEqual(await s.openKinds('bad'), ['agent-missing']);
  });
});
