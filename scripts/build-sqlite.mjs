// Runs as part of the root package's postinstall: installs better-sqlite3's native addon for the
// Node that runs npm. package.json's allowScripts keeps npm from running better-sqlite3's own
// install script, which runs under whatever `node` is first on PATH (the agent build's Node 24
// until unshadow-node.mjs has run) and, offline without npm_config_nodedir, fails with a node-gyp
// "network" error that never says that Node's headers are what is missing.
//
// A prebuilt addon when one can be downloaded; else a compile, with the headers from, in order:
// npm_config_nodedir when set; node-gyp's cache for this Node version; the ones installed beside
// this Node (`BIN/../include/node`, as Debian, NodeSource, nvm and the official tarballs lay them
// out); else node-gyp downloads them, and if that fails this prints one line naming what to set.
// Plain Node ESM.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addonDir = join(root, 'node_modules', 'better-sqlite3');
const say = (s) => console.log(`build-sqlite: ${s}`);

// The node_modules/.bin/node link of the agent build's Node 24 may still be first on PATH: compile
// for the Node that runs npm, which is the one that runs the server and the tests.
const nodeExe = process.env.npm_node_execpath && !process.env.npm_node_execpath.includes('node_modules') ? process.env.npm_node_execpath : process.execPath;
const version = spawnSync(nodeExe, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');

if (!existsSync(join(addonDir, 'package.json'))) {
  say('better-sqlite3 is not installed; nothing to build');
  process.exit(0);
}

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && resolve(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p));
}

/** Where node-gyp finds headers without downloading; null when it would have to download them. */
function headers() {
  if (process.env.npm_config_nodedir) return { nodedir: process.env.npm_config_nodedir, from: 'npm_config_nodedir' };
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'node-gyp', version);
  if (existsSync(join(cache, 'include', 'node', 'node.h'))) return { nodedir: null, from: `node-gyp's cache (${cache})` };
  const beside = resolve(nodeExe, '..', '..');
  if (existsSync(join(beside, 'include', 'node', 'node.h'))) return { nodedir: beside, from: `the headers beside ${nodeExe}` };
  return null;
}

// First what better-sqlite3's own script tries: a prebuilt addon for this Node, when the network has one.
const prebuild = join(root, 'node_modules', 'prebuild-install', 'bin.js');
if (existsSync(prebuild) && !process.env.npm_config_offline) {
  const p = spawnSync(nodeExe, [prebuild], { cwd: addonDir, stdio: ['ignore', 'ignore', 'ignore'], timeout: 120_000 });
  if (p.status === 0) {
    say(`installed the prebuilt better-sqlite3 for Node ${version}`);
    process.exit(0);
  }
}

const gyp = nodeGyp();
if (!gyp) {
  console.error("build-sqlite: error: npm's node-gyp was not found; run this through npm ci (or set npm_config_node_gyp)");
  process.exit(1);
}
const found = headers();
const args = [gyp, 'rebuild', '--release', ...(found?.nodedir ? [`--nodedir=${found.nodedir}`] : [])];
const path = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((p) => !p.includes('node_modules'))
  .join(delimiter);
say(`compiling better-sqlite3 for Node ${version} with ${found ? found.from : 'headers node-gyp downloads'}`);
const r = spawnSync(nodeExe, args, { cwd: addonDir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PATH: path } });
if (r.status !== 0) {
  if (!found) {
    console.error(
      `build-sqlite: error: Node ${version}'s headers are not beside ${nodeExe} nor in node-gyp's cache, and could not be downloaded; ` +
        'set npm_config_nodedir=DIR (DIR/include/node/node.h; /usr on Debian, /usr/local in the node image) and run npm ci again',
    );
  } else {
    console.error(`build-sqlite: error: compiling better-sqlite3 failed (above); it needs python3, make and a C++ compiler (Debian: apt-get install python3 make g++)`);
  }
  process.exit(1);
}
