/**
 * One host's alarm flood over the wire: a real `serve` mailing a real SMTP peer; a connection with one
 * enrolled host's certificate sends 30,000 new critical files (events of 250, the frame limit's worth); a
 * second host then reports one. The flooding host's alarm rows stay bounded, and the second host's mail
 * reaches the peer within a minute of its alarm.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { FLOOD_LIMITS } from '../../server/alarms/alarm-flood.ts';
import { enrollAgent, initServer, startServer, type TestServer } from '../helpers/cluster.ts';
import { fileEntry } from '../helpers/file-entry.ts';
import { identityOf } from '../helpers/raw-client.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { waitFor } from '../helpers/wait.ts';

const FILES = 30_000;
const facts = { hostname: 'x', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 };
/** A new critical file, as the agent measures it. */
const file = (path: string) => fileEntry(path, { class: 'critical', sha256: 'b'.repeat(64) });
let server: TestServer;
const peer = new SmtpPeer();

before(async () => {
  const port = await peer.start();
  const init = initServer();
  const cfg = join(init.dir, 'server.yml');
  const smtp = `smtp:\n  host: 127.0.0.1\n  port: ${port}\n  secure: false\n  from: tripwarden@test.example\n  to: security@test.example`;
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^smtp: null$/m, smtp));
  server = await startServer(init);
});
after(async () => {
  await server?.stop();
  await peer.stop();
});

/** Connects with an enrolled host's identity, says hello and sends an empty report (its baseline). */
async function connectAs(host: string): Promise<{ send(m: object): void; close(): void }> {
  const id = identityOf(enrollAgent(server, host).stateDir);
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/agent`, { key: id.key, cert: id.cert, ca: id.ca, rejectUnauthorized: true });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const bootId = randomUUID();
  let seq = 0;
  const send = (m: object) => ws.send(JSON.stringify({ ...m, bootId, seq: seq++, sentAt: Date.now() }));
  const welcomed = new Promise((res) => ws.on('message', (d) => JSON.parse(d.toString()).type === 'welcome' && res(null)));
  send({ type: 'hello', protocol: 1, agentVersion: 't', interval: 60_000, facts });
  await welcomed;
  send({ type: 'report', reportId: randomUUID(), part: 0, last: true, files: [], daemons: [], mounts: [] });
  return { send, close: () => ws.close() };
}

function q<T>(sql: string): T {
  const c = server.ctx();
  try {
    return c.db!.prepare(sql).get() as T;
  } finally {
    void c.close();
  }
}

test("30,000 alarms from one host's connection: bounded rows, one alarm-flood; another host's critical alarm mailed within a minute", async () => {
  const flooder = await connectAs('flooder');
  const victim = await connectAs('victim');
  for (let from = 0; from < FILES; from += 250) {
    flooder.send({ type: 'event', files: Array.from({ length: 250 }, (_, i) => file(`/srv/drop/f${from + i}`)), gone: [], daemons: [], mounts: [], notes: [] });
  }
  // Stored once the flood's counts (written on serve's tick) hold every file past the ones opened alone.
  const flood = await waitFor(
    () => {
      const r = q<{ detail: string; severity: string } | undefined>(`SELECT detail, severity FROM alarms WHERE host = 'flooder' AND kind = 'alarm-flood' AND resolved_at IS NULL`);
      return r && (JSON.parse(r.detail) as { folded: number }).folded === FILES - FLOOD_LIMITS.burst ? r : undefined;
    },
    { timeoutMs: 120_000, what: 'the flood stored' },
  );
  assert.equal(flood.severity, 'critical');
  assert.equal(q<{ n: number }>(`SELECT COUNT(*) AS n FROM alarms WHERE host = 'flooder'`).n, FLOOD_LIMITS.burst + 1);

  victim.send({ type: 'event', files: [file('/usr/sbin/sshd-backdoor')], gone: [], daemons: [], mounts: [], notes: [] });
  const storedAt = await waitFor(() => q<{ t: number | null }>(`SELECT MAX(opened_at) AS t FROM alarms WHERE host = 'victim' AND kind = 'file-added'`).t, {
    what: "the victim's alarm",
  });
  await waitFor(() => peer.received.some((m) => `${m.subject}\n${m.text}`.includes('victim')), { timeoutMs: 90_000, what: "the victim's mail" });
  const delay = Date.now() - storedAt;
  assert.ok(delay <= 60_000, `the victim's mail came ${delay} ms after its alarm`);
  flooder.close();
  victim.close();
});
