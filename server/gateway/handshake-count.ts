import type { Socket } from 'node:net';
import type { Server, TLSSocket } from 'node:tls';

/**
 * Counts a TLS server's handshakes in flight: TCP connections accepted whose
 * handshake has neither finished nor failed. Many at once is a reconnect
 * storm (stall-watch.ts). A socket leaves the count when its handshake ends
 * (`secureConnection`, matched to its TCP socket by the TLS socket's parent)
 * or when its TCP socket closes, whichever comes first; never twice.
 */
export function countHandshakes(server: Server): () => number {
  let n = 0;
  const pending = new WeakSet<object>();
  const done = (raw: object | undefined) => {
    if (raw && pending.delete(raw)) n--;
  };
  server.on('connection', (raw: Socket) => {
    pending.add(raw);
    n++;
    raw.once('close', () => done(raw));
  });
  // `_parent` is the TCP socket a server-side TLSSocket wraps (Node 20, 24); test/server/handshake-count.test.ts checks it.
  server.on('secureConnection', (sock: TLSSocket) => done((sock as TLSSocket & { _parent?: object })._parent));
  return () => n;
}
