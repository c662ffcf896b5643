/**
 * The server acks a heartbeat only when it asks (`wantAck`): the agent's proof
 * that the server hears it, without a reply frame for every heartbeat of the
 * fleet. A goodbye is always acked. Real server, real mutual TLS.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, startServer, type TestServer } from '../helpers/cluster.ts';
import { identityOf, rawConnect } from '../helpers/raw-client.ts';

let server: TestServer | undefined;
after(async () => {
  await server?.stop();
});

test('only heartbeats that ask for an ack get one, each after it is stored; goodbye is acked', async () => {
  server = await startServer(initServer({ grace: '1s' }));
  const id = identityOf(enrollAgent(server, 'oscar').stateDir);
  const bootId = '31111111-2222-4333-8444-555555555555';
  const env = (seq: number) => ({ bootId, seq, sentAt: Date.now() });
  const frames = [
    { type: 'hello', ...env(0), protocol: 1, agentVersion: 't', interval: 1000, facts: { hostname: 'x', os: 'L', release: '6', arch: 'x64', runtime: 'n', uptimeSec: 1 } },
    { type: 'heartbeat', ...env(1) },
    { type: 'heartbeat', ...env(2), wantAck: true },
    { type: 'heartbeat', ...env(3), wantAck: false },
    { type: 'heartbeat', ...env(4), wantAck: true },
    { type: 'goodbye', ...env(5), reason: 'test' },
  ].map((f) => JSON.stringify(f));
  const r = await rawConnect(server.port, { ...id, send: frames, waitMs: 2000 });
  const got = r.frames as { type: string; seq?: number }[];
  assert.deepEqual(
    got.map((f) => (f.type === 'ack' ? `ack ${f.seq}` : f.type)),
    ['welcome', 'ack 2', 'ack 4', 'ack 5'],
  );
  assert.equal(await hostStatus(server, 'oscar'), 'stopped', 'and the goodbye was stored');
});
