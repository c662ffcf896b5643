/** The sweep is a long-lived loop: one host it cannot process must not stop the others' alarms (STYLE habit 7). */

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Liveness } from '../../../server/liveness/liveness.ts';
import { createLogger } from '../../../shared/log.ts';
import { helloMsg, serverDb } from '../../helpers/server-db.ts';

function setup() {
  const s = serverDb();
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
    s.addHost(h);
    liveness.hello(h, helloMsg());
  }
  // A row the code cannot read: facts that are not JSON (a hand edit, a damaged page).
  s.db.prepare(`UPDATE hosts SET facts = '{"hostname":' WHERE host = 'bad'`).run();
  return { ...s, liveness, lines };
}

test('a host the sweep cannot process is logged and set aside; the other host still gets its alarm', () => {
  const s = setup();
  s.clock.advance(30_000); // past 2 × interval + grace for both
  assert.doesNotThrow(() => s.liveness.sweep());
  assert.equal(s.hosts.get('good')!.status, 'missing');
  assert.deepEqual(s.openKinds('good'), ['agent-missing']);
  const failed = s.lines.filter((l) => l.host === 'bad' && l.level === 50);
  assert.equal(failed.length, 1, 'one error line, naming the host');
  assert.match(String(failed[0]!.msg), /sweep failed on this host/);
  assert.match(String(failed[0]!.err), /JSON/);
});

test('the failing host is looked at again one interval later, not on every tick', () => {
  const s = setup();
  s.clock.advance(30_000);
  s.liveness.sweep();
  const late = () => s.db.prepare(`SELECT late_at FROM hosts WHERE host = 'bad'`).pluck().get() as number;
  assert.equal(late(), s.clock.now() + 10_000, 'its deadline moved one interval on');
  for (let i = 0; i < 39; i++) {
    s.clock.advance(250);
    assert.equal(s.liveness.sweep(), 0, 'nothing due while it waits');
  }
  s.clock.advance(250);
  assert.equal(s.liveness.sweep(), 1, 'due again after one interval');
  assert.equal(s.lines.filter((l) => l.host === 'bad' && l.level === 50).length, 2);
  // Once the row can be read again, the next look gives the host its status and alarm.
  s.db.prepare(`UPDATE hosts SET facts = '{}' WHERE host = 'bad'`).run();
  s.clock.advance(10_000);
  s.liveness.sweep();
  assert.equal(s.hosts.get('bad')!.status, 'missing');
  assert.deepEqual(s.openKinds('bad'), ['agent-missing']);
});
