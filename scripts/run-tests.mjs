#!/usr/bin/env node
// `npm test`: type-check, lint, build the agent executable and the server's JavaScript
// (bin/tripwarden runs it), then run every test file
// with node's test runner. Node 20's runner expands no globs, so files are listed
// here. End-to-end tests run the compiled agent (TRIPWARDEN_AGENT_EXE) so what is
// tested is what ships; set TW_AGENT_FROM_SOURCE=1 to run the TypeScript instead.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const run = (cmd, args, env = process.env) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length ? only : find(join(root, 'test')).map((p) => p.slice(root.length + 1));

run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit']);
// Lint: biome's formatter and linter, then the import rules (agent/ and server/ never import each other).
run(process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'check', '.']);
run(process.execPath, ['scripts/lint-imports.mjs']);
run(process.execPath, ['scripts/build-server.mjs']);
const env = { ...process.env };
if (!process.env.TW_AGENT_FROM_SOURCE) {
  run(process.execPath, ['scripts/build-agent.mjs']);
  const exe = join(root, 'dist/tripwarden-agent');
  if (existsSync(exe)) env.TRIPWARDEN_AGENT_EXE = exe;
}
const tests = [process.execPath, '--import', 'tsx', '--test', '--test-timeout=600000', ...files];
// The store's conformance suite and the multi-instance tests need a PostgreSQL server: pg_virtualenv
// (Debian's postgresql-common) makes a throwaway cluster for the run and drops it after. Without it, or with
// PGHOST already set, the tests run as they are (the PostgreSQL halves print why they skip).
const onPath = (cmd) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
if (!env.PGHOST && !env.TW_NO_PG && onPath('pg_virtualenv')) run('pg_virtualenv', tests, env);
else run(tests[0], tests.slice(1), env);
