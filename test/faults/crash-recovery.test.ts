/**
 * The server killed with -9 under load and restarted: every heartbeat it had
 * acknowledged is in the database, alarms opened before the crash are still
 * open (and still in the outbox), and the restart raises no flood of false
 * `agent-missing` (Liveness.startGrace gives every host time to reconnect).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { openDatabase } from '../../server/storage/db.ts';
import { initServer, Proc, ROOT, type TestServer } from '../helpers/cluster.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { enrollDirect, openWs, RawAgent } from './fault-kit.ts';

/** `serve` on a fixed agent port, so agents reconnect to the same address after the restart. */
async function serveOn(dir: string, port: number): Promise<Proc> {
  const p = new Proc(
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'serve', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--dashboard', '127.0.0.1:0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const line = await p.waitLog((o) => o.msg === 'serving');
  void (line as unknown as TestServer);
  return p;
}

test('kill -9 under load: nothing acked is lost, no alarm forgotten, no false agent-missing', { timeout: 90_000 }, async () => {
  // grace 1s, interval 1s: a host is missing 3 s after its last beat, and the server stays down longer than that.
  const init = initServer({ grace: '1s' });
  const names = Array.from({ length: 40 }, (_, i) => `crash-${String(i).padStart(2, '0')}`);
  const ids = await enrollDirect(init.dir, [...names, 'rogue', 'quitter']);
  let proc = await serveOn(init.dir, 0);
  const port = Number(
    String((await proc.waitLog((o) => o.msg === 'serving')).gateway)
      .split(':')
      .pop(),
  );
  await proc.signal('SIGTERM');
  await proc.exited;
  proc = await serveOn(init.dir, port);
  const agents = ids.slice(0, 40).map((id) => new RawAgent(id, () => port, { everyMs: 50, intervalMs: 1000 }).start());
  const quitter = new RawAgent(ids[41]!, () => port, { everyMs: 200, intervalMs: 1000 }).start();
  try {
    await waitFor(() => agents.every((a) => a.up) && quitter.up, { what: 'agents up' });
    // Alarms to remember: a protocol violation, and an agent that vanished without a goodbye.
    const rogue = await openWs(port, ids[40]!);
    rogue.on('error', () => {});
    rogue.send('not json');
    await new Promise((r) => rogue.once('close', r));
    quitter.kill();
    await sleep(1000); // under load: 40 agents × 20 beats/s
    const before = openDatabase(join(init.dir, 'tripwarden.db'), { readonly: true });
    const alarmsBefore = before.prepare('SELECT id, host, kind FROM alarms WHERE resolved_at IS NULL ORDER BY id').all() as { id: number; host: string; kind: string }[];
    before.close();
    assert.ok(alarmsBefore.some((a) => a.host === 'rogue' && a.kind === 'protocol-violation'));
    assert.ok(alarmsBefore.some((a) => a.host === 'quitter' && a.kind === 'agent-disconnected'));

    proc.signal('SIGKILL');
    await proc.exited;
    const acked = new Map(agents.map((a) => [a.id.host, a.maxAcked]));

    // Nothing the dead server acknowledged is missing from the file.
    const db = openDatabase(join(init.dir, 'tripwarden.db'), { readonly: true });
    const rows = new Map((db.prepare('SELECT host, last_seq FROM hosts').all() as { host: string; last_seq: number }[]).map((r) => [r.host, r.last_seq]));
    const open = db.prepare('SELECT id FROM alarms WHERE resolved_at IS NULL').all() as { id: number }[];
    const events = db.prepare(`SELECT alarm_id FROM alarm_events WHERE action = 'open'`).all() as { alarm_id: number }[];
    db.close();
    let total = 0;
    for (const [host, seq] of acked) {
      assert.ok(seq > 0);
      assert.ok(rows.get(host)! >= seq, `${host}: acked seq ${seq}, stored ${rows.get(host)}`);
      total += seq;
    }
    for (const a of alarmsBefore) {
      assert.ok(
        open.some((o) => o.id === a.id),
        `alarm ${a.id} (${a.kind}) lost`,
      );
      assert.ok(
        events.some((e) => e.alarm_id === a.id),
        `alarm ${a.id} has no outbox event`,
      );
    }
    console.log(`${total} heartbeats acknowledged before kill -9, every one stored; ${alarmsBefore.length} open alarms kept`);

    // Down for longer than a deadline: without the start grace every host would now be missing.
    await sleep(3500);
    const restartAt = Date.now();
    proc = await serveOn(init.dir, port);
    await waitFor(() => agents.every((a) => a.welcomes >= 2), { timeoutMs: 30_000, what: 'agents back' });
    // The start grace (twice the deadline plus the agents' longest backoff: 11 s here) and the recovery (until no agent
    // has said hello for 30 s) end; only the quitter may go missing.
    // (Liveness.RECOVERY_QUIET_MS; the other agents said hello within a second of the restart.)
    const missingSince = () => {
      const db = openDatabase(join(init.dir, 'tripwarden.db'), { readonly: true });
      try {
        return db.prepare(`SELECT host FROM alarms WHERE kind = 'agent-missing' AND opened_at >= ?`).all(restartAt) as { host: string }[];
      } finally {
        db.close();
      }
    };
    await waitFor(() => missingSince().length > 0, { timeoutMs: 45_000, everyMs: 500, what: 'the quitter to go missing' });
    await sleep(500);
    const missing = missingSince();
    const after = openDatabase(join(init.dir, 'tripwarden.db'), { readonly: true });
    const stillOpen = after.prepare('SELECT id FROM alarms WHERE resolved_at IS NULL').all() as { id: number }[];
    after.close();
    assert.deepEqual(
      missing.map((m) => m.host),
      ['quitter'],
    );
    for (const a of alarmsBefore.filter((x) => x.kind !== 'agent-disconnected')) assert.ok(stillOpen.some((o) => o.id === a.id));
  } finally {
    for (const a of agents) a.stop();
    proc.signal('SIGTERM');
    await proc.exited;
  }
  void WebSocket;
});
