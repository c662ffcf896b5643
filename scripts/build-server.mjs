// Builds the server's command line as plain JavaScript: dist/server/main.js,
// run by bin/tripwarden (and by the server package's `tripwarden`).
//
//   npm run build:server [-- --out dist/server]   (`npm ci` runs it too: the prepare script)
//
// esbuild bundles server/main.ts with everything it imports, so a command
// starts without tsx and without resolving hundreds of files. Each command is
// its own chunk (server/main.ts loads them with import()), so `hosts` does not
// parse the mailer, the gateway or the dashboard. Packages with a native addon
// (better-sqlite3) stay external and load from node_modules. The dashboard's
// static assets are copied beside the chunks, where the dashboard module looks
// for them. Works offline after `npm ci`. Plain Node ESM.
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const started = performance.now();
const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));
const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'dist/server' } } });
const out = resolve(root, args.out);

function fail(msg) {
  console.error(`build-server: ${msg}`);
  process.exit(1);
}

/** A dependency with a native addon cannot be bundled: it stays a runtime import from node_modules. */
function isNative(name) {
  let dir;
  try {
    dir = dirname(require.resolve(`${name}/package.json`));
  } catch {
    return false;
  }
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
  return existsSync(join(dir, 'binding.gyp')) || pkg.gypfile === true || 'bindings' in deps || 'node-gyp-build' in deps || 'prebuild-install' in deps;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let esbuild;
try {
  esbuild = await import('esbuild');
} catch (err) {
  // `npm ci --omit=dev` (the server image) has no esbuild: the server runs from source there.
  if (process.env.npm_lifecycle_event === 'prepare') {
    console.log('build-server: esbuild is not installed (npm ci --omit=dev?): skipped; npm run -s server -- runs the server from source');
    process.exit(0);
  }
  fail(`missing build dependency (run npm ci): ${err.message}`);
}
const external = Object.keys(pkg.dependencies ?? {}).filter(isNative);

rmSync(out, { recursive: true, force: true });
const result = await esbuild
  .build({
    entryPoints: { main: join(root, 'server', 'main.ts') },
    outdir: out,
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    external,
    define: { __TRIPWARDEN_VERSION__: JSON.stringify(pkg.version) },
    // Bundled CommonJS packages call require() for Node's built-ins; ESM has none.
    banner: { js: "import{createRequire as __twRequire}from'node:module';const require=__twRequire(import.meta.url);" },
  })
  .catch((err) => fail(`esbuild failed:\n${err.message}`));
for (const w of result.warnings) {
  const where = w.location ? `${w.location.file}:${w.location.line}: ` : '';
  console.warn(`build-server: esbuild warning: ${where}${w.text}`);
}
cpSync(join(root, 'server', 'dashboard', 'assets'), join(out, 'assets'), { recursive: true });

const ms = (performance.now() - started).toFixed(0);
console.log(`build-server: ${relative(process.cwd(), join(out, 'main.js')) || 'main.js'} (external: ${external.join(', ') || 'none'})  built in ${ms} ms`);
