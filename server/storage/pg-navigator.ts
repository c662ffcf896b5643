/**
 * Loaded before `pg`. To tell a Cloudflare Worker, pg reads `navigator.userAgent` and, when Node has no
 * `navigator` (Node 20), constructs a `Response`, which loads undici, which compiles WebAssembly: under
 * `--jitless` (the server's unit, for MemoryDenyWriteExecute) there is none and the process dies at start.
 * Node 21+ defines `navigator` with this user agent; on Node 20 we define the same.
 */
const g = globalThis as { navigator?: unknown };
if (g.navigator === undefined) {
  Object.defineProperty(g, 'navigator', { value: Object.freeze({ userAgent: `Node.js/${process.versions.node.split('.')[0]}` }), configurable: true, writable: true });
}
