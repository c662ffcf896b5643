import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FallbackWriter } from '../../../agent/fallback/fallback-writer.ts';
import { addToDelta, emptyDelta } from '../../../agent/monitor/delta.ts';
import { eventFrames } from '../../../agent/monitor/frames.ts';
import { Spool } from '../../../agent/spool/spool.ts';
import { type SpoolLink, SpoolSender } from '../../../agent/spool/spool-sender.ts';
import { createLogger } from '../../../shared/log.ts';
import { type PortEntry, portKey, type RecordBody, type SpoolRecord } from '../../../shared/protocol.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { fileEntry } from '../../helpers/file-entry.ts';
import { tempDir } from '../../helpers/temp.ts';

const log = createLogger('test', { level: 'silent' });

/** The spool bodies the check runner makes of a delta: each `event` frame without its type. */
function bodies(d: ReturnType<typeof emptyDelta>): RecordBody[] {
  return eventFrames(d).map(({ type: _type, ...f }) => ({ kind: 'event', ...f }));
}

test('a new listening socket measured while the server is down writes a port-opened fallback line and is never summarised away', () => {
  const dir = tempDir();
  const sinkPath = join(dir, 'fallback.log');
  const spool = new Spool({ dir: tempDir(), log, maxBytes: 64 * 1024 });
  const fallback = new FallbackWriter({ specs: [sinkPath], log, host: 'web1' });
  let s = 0;
  const link: SpoolLink = {
    bootId: '11111111-2222-4333-8444-555555555555',
    isConnected: false,
    takeSeq: () => s++,
    sendMessage: () => false,
    on: () => {},
  };
  const sender = new SpoolSender(spool, link, {
    clock: new FakeClock(0),
    log,
    onAppended: (rec, online) => {
      if (!online) fallback.writeRecord(rec);
    },
  });
  try {
    const backdoor: PortEntry = { proto: 'tcp', addr: '0.0.0.0', port: 4444, process: 'nc', pids: [4242], uid: 0 };
    const d = emptyDelta();
    addToDelta(d, 'port', portKey(backdoor), backdoor);
    const [body] = bodies(d);
    const rec = sender.submit(body!);
    assert.ok(rec, 'the spool took the record');
    assert.equal(rec.severity, 'critical');
    const lines = readFileSync(sinkPath, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^tripwarden: host=web1 kind=port-opened subject=tcp\/0\.0\.0\.0:4444 hash=[0-9a-f]{12} n=1 process=nc uid=0$/);

    // Low-severity file changes fill the spool past its limit: the port record stays.
    for (let i = 0; i < 400; i++) {
      const f = emptyDelta();
      addToDelta(f, 'file', `/srv/www/page-${i}`, fileEntry(`/srv/www/page-${i}`));
      sender.submit(bodies(f)[0]!);
    }
    const kept = spool.read(0, 1e9).filter((r): r is SpoolRecord => !('gap' in r));
    assert.ok(
      kept.some((r) => r.body.kind === 'summary'),
      'the spool did summarise low records',
    );
    assert.ok(
      kept.some((r) => r.n === rec.n && r.body.kind === 'event' && r.body.ports?.[0]?.port === 4444),
      'the port record is kept',
    );
  } finally {
    fallback.close();
    spool.close();
    spawnSync('chattr', ['-a', sinkPath], { stdio: 'ignore' });
  }
});

test('a listener gone writes a port-closed line', () => {
  const dir = tempDir();
  const sinkPath = join(dir, 'fallback.log');
  const spool = new Spool({ dir: tempDir(), log });
  const fallback = new FallbackWriter({ specs: [sinkPath], log, host: 'web1' });
  const link: SpoolLink = { bootId: '11111111-2222-4333-8444-555555555555', isConnected: false, takeSeq: () => 0, sendMessage: () => false, on: () => {} };
  const sender = new SpoolSender(spool, link, { clock: new FakeClock(0), log, onAppended: (rec) => fallback.writeRecord(rec) });
  try {
    const d = emptyDelta();
    addToDelta(d, 'port', 'udp6/[::]:5353', null);
    sender.submit(bodies(d)[0]!);
    assert.match(readFileSync(sinkPath, 'utf8'), /kind=port-closed subject=udp6\/\[::\]:5353 /);
  } finally {
    fallback.close();
    spool.close();
    spawnSync('chattr', ['-a', sinkPath], { stdio: 'ignore' });
  }
});
