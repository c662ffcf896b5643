import type { Socket } from 'node:net';
import type { Server, TLSSocket } from 'node:tls';

/**
 * Counts a TLS server's handshakes in flight: TCP connections whose peer has
 * sent its first bytes (the ClientHello) and whose handshake has neither
 * finished nor failed. Many at once is a reconnect storm (stall-watch.ts).
 *
 * A connection that has sent nothing is not counted: it costs the server no
 * work, and counting it let any peer that can open TCP connections make the
 * server believe itself overloaded (and hold every host's deadline). Such a
 * connection is cut by the server's handshake timeout. A socket leaves the
 * count when its handshake ends (`secureConnection`, matched to its TCP socket
 * by the TLS socket's parent) or when its TCP socket closes; never twice.
 */
export function countHandshakes(server: Server): () => number {
  const pending = new Set<Socket>();
  server.on('connection', (raw: Socket) => {
    pending.add(raw);
    raw.once('close', () => pending.delete(raw));
  });
  // `_parent` is the TCP socket a server-side TLSSocket wraps (Node 20, 24); test/server/gateway/handshake-count.test.ts checks it.
  server.on('secureConnection', (sock: TLSSocket) => {
    const raw = (sock as TLSSocket & { _parent?: Socket })._parent;
    if (raw) pending.delete(raw);
  });
  return () => {
    let n = 0;
    // The TCP socket's byte count goes on rising while TLS reads through its handle.
    for (const raw of pending) if (raw.bytesRead > 0) n++;
    return n;
  };
}
