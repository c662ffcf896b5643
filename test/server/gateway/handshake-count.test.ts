/** Handshakes in flight on a real TLS server over loopback: counted once started and while unfinished, never twice, never negative. */

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import { createServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { countHandshakes } from '../../../server/gateway/handshake-count.ts';
import { createCa } from '../../../server/trust/ca.ts';
import { waitFor } from '../../helpers/wait.ts';

test('a socket counts from its first bytes until its handshake ends or it closes; a silent one never', async (t) => {
  const ca = createCa('handshake test');
  const server = createServer({ key: ca.keyPem, cert: ca.certPem });
  const inFlight = countHandshakes(server);
  const open: (Socket | TLSSocket)[] = [];
  t.after(() => {
    for (const s of open) s.destroy();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  // Two TCP peers that start a handshake (a TLS record header) and stall, and one that sends nothing.
  for (let i = 0; i < 2; i++) {
    const s = netConnect(port, '127.0.0.1', () => s.write(Buffer.from('160301', 'hex')));
    s.on('error', () => {});
    open.push(s);
  }
  const silent = netConnect(port, '127.0.0.1');
  silent.on('error', () => {});
  t.after(() => silent.destroy());
  await new Promise((r) => silent.once('connect', r));
  await waitFor(() => inFlight() === 2, { what: 'two handshakes in flight' });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(inFlight(), 2, 'a connection that sent nothing is no handshake in flight');
  // A TLS client that finishes: it leaves the count while its connection stays open.
  const secured = new Promise<void>((r) => {
    const c = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => r());
    c.on('error', () => {});
    open.push(c);
  });
  await secured;
  await waitFor(() => inFlight() === 2, { what: 'the finished one not counted' });
  open[0]!.destroy();
  open[1]!.destroy();
  await waitFor(() => inFlight() === 0, { what: 'closed ones leave the count' });
  open[2]!.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(inFlight(), 0, 'closing a finished one does not count it out twice');
});
