/** After a server restart the agent resumes its TLS session instead of a full mutual-TLS handshake (the reconnect storm). */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, type Proc, runAgent, startServer } from '../helpers/cluster.ts';
import { serveOn } from '../helpers/spool.ts';
import { waitFor } from '../helpers/wait.ts';

let again: Proc | undefined;
after(() => again?.signal('SIGKILL'));

test('the agent reconnects to a restarted server with a resumed TLS session, and is up again', async () => {
  const init = initServer({ grace: '1s' });
  const server = await startServer(init);
  const a = enrollAgent(server, 'romeo');
  const p = runAgent(a);
  const first = await p.waitLog((o) => o.msg === 'connected');
  assert.equal(first.tlsResumed, false, 'the first connection is a full handshake');
  await server.stop();
  again = await serveOn(init, server.port);
  const connected = () => p.lines.filter((l) => l.includes('"msg":"connected"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor(() => connected().length >= 2, { timeoutMs: 20_000, what: 'a second connection' });
  const second = connected()[1];
  assert.equal(second!.tlsResumed, true, 'the ticket survived the restart (its key is derived from ca.key)');
  await waitFor(async () => (await hostStatus(server, 'romeo')) === 'up', { what: 'romeo up again' });
  p.signal('SIGKILL');
});
