/** The accept gate on a real TLS server over loopback: a bounded number of connections at TLS, the rest waiting unread in order. */

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import { createServer, type Server, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AcceptGate, type AcceptGateOptions } from '../../../server/gateway/accept-gate.ts';
import { createCa } from '../../../server/trust/ca.ts';
import { waitFor } from '../../helpers/wait.ts';

const ca = createCa('accept gate test');

async function gated(
  t: { after: (fn: () => void) => void },
  o: Partial<AcceptGateOptions>,
): Promise<{ server: Server; gate: AcceptGate; port: number; open: (Socket | TLSSocket)[] }> {
  const server = createServer({ key: ca.keyPem, cert: ca.certPem });
  const gate = new AcceptGate(server, { maxInFlight: 2, maxWaitMs: 60_000, slotMs: 60_000, now: () => performance.now(), ...o });
  // As the gateway does: a finished handshake gives its slot to the next.
  server.on('secureConnection', (s: TLSSocket) => gate.release((s as TLSSocket & { _parent?: Socket })._parent));
  const open: (Socket | TLSSocket)[] = [];
  t.after(() => {
    for (const s of open) s.destroy();
    gate.destroyQueued();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, gate, port: (server.address() as { port: number }).port, open };
}

/** A TCP peer that starts a TLS handshake (a record header) and stalls: it holds its slot. */
async function staller(port: number, open: (Socket | TLSSocket)[]): Promise<Socket> {
  const s = netConnect(port, '127.0.0.1', () => s.write(Buffer.from('160301', 'hex')));
  s.on('error', () => {});
  open.push(s);
  await new Promise((r) => s.once('connect', r));
  return s;
}

/** A TLS client; resolves true once its handshake finished, false if the server closed it first. */
function client(port: number, open: (Socket | TLSSocket)[]): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(true));
    c.on('error', () => {});
    c.once('close', () => resolve(false));
    open.push(c);
  });
}

test('past maxInFlight a connection waits unread until a slot frees, then finishes its handshake', async (t) => {
  const { gate, port, open } = await gated(t, {});
  const a = await staller(port, open);
  await staller(port, open);
  await waitFor(() => gate.admitted === 2, { what: 'two admitted' });
  let done = false;
  const c = client(port, open).then((ok) => {
    done = ok;
    return ok;
  });
  await waitFor(() => gate.queued === 1, { what: 'the third queued' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(done, false, 'no handshake while both slots are held');
  a.destroy();
  assert.equal(await c, true, 'admitted once a slot freed');
  await waitFor(() => gate.admitted === 1 && gate.queued === 0, { what: 'its slot released at secureConnection' });
});

test('a connection queued past maxWaitMs is closed unread when its turn comes', async (t) => {
  let now = 0;
  const { gate, port, open } = await gated(t, { maxInFlight: 1, maxWaitMs: 8_000, now: () => now });
  const a = await staller(port, open);
  await waitFor(() => gate.admitted === 1, { what: 'one admitted' });
  const c = client(port, open);
  await waitFor(() => gate.queued === 1, { what: 'one queued' });
  now = 8_001;
  a.destroy();
  assert.equal(await c, false, 'closed without a handshake');
  assert.equal(gate.expired, 1);
  assert.equal(gate.admitted, 0);
});

test('a stalled peer keeps its slot at most slotMs', async (t) => {
  const { gate, port, open } = await gated(t, { maxInFlight: 1, slotMs: 200 });
  await staller(port, open);
  await waitFor(() => gate.admitted === 1, { what: 'the staller admitted' });
  assert.equal(await client(port, open), true, 'the next one admitted after the slot expired');
});

test('destroyQueued closes what waits, so the server can close', async (t) => {
  const { server, gate, port, open } = await gated(t, { maxInFlight: 1 });
  const a = await staller(port, open);
  await waitFor(() => gate.admitted === 1, { what: 'one admitted' });
  const c = client(port, open);
  await waitFor(() => gate.queued === 1, { what: 'one queued' });
  gate.destroyQueued();
  assert.equal(await c, false);
  a.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

test("the gate refuses a server without the TLS server's one connection listener", () => {
  const server = createServer({ key: ca.keyPem, cert: ca.certPem });
  server.on('connection', () => {});
  assert.throws(() => new AcceptGate(server, { maxInFlight: 1, maxWaitMs: 1, slotMs: 1, now: () => 0 }), /one connection listener \(found 2\)/);
});
