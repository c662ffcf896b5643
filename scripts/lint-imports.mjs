#!/usr/bin/env node
// The import rules `ls` cannot show: agent/ and server/ never import each other,
// shared/ imports neither, storage/ is below every other server domain, a shipped
// migration imports nothing, and no module imports itself through a cycle.
// One line per breach, exit 1 if any.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const SOURCE = ['agent', 'server', 'shared'];

function walk(dir, out = []) {
  for (const name of readdirSync(join(root, dir)).sort()) {
    const p = `${dir}/${name}`;
    if (statSync(join(root, p)).isDirectory()) walk(p, out);
    else if (/\.(ts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative import specifiers of a file, resolved to repository paths. */
function importsOf(file) {
  const src = readFileSync(join(root, file), 'utf8');
  const out = [];
  for (const m of src.matchAll(
    /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|^import\s*['"](\.{1,2}\/[^'"]+)['"]/gm,
  )) {
    const spec = m[1] ?? m[2] ?? m[3];
    out.push(posix.normalize(posix.join(posix.dirname(file), spec)));
  }
  return out;
}

const top = (p) => p.split('/')[0];
const serverDomain = (p) => (p.startsWith('server/') && p.split('/').length > 2 ? p.split('/')[1] : null);

const rules = [
  ['agent/ never imports server/', (f, t) => top(f) === 'agent' && top(t) === 'server'],
  ['server/ never imports agent/', (f, t) => top(f) === 'server' && top(t) === 'agent'],
  ['shared/ imports neither agent/ nor server/', (f, t) => top(f) === 'shared' && (top(t) === 'agent' || top(t) === 'server')],
  [
    "server/storage/ imports only storage/, the root's errors and config, and shared/",
    (f, t) => serverDomain(f) === 'storage' && top(t) === 'server' && serverDomain(t) !== 'storage' && !['server/errors.ts', 'server/config.ts'].includes(t),
  ],
  ['a shipped migration imports nothing', (f) => /^server\/storage\/migrations\/\d{3}-/.test(f)],
  [
    "server domains never import the root's wiring (main, server-app)",
    (f, t) => serverDomain(f) !== null && serverDomain(f) !== 'cli' && ['server/main.ts', 'server/server-app.ts'].includes(t),
  ],
];

const files = SOURCE.flatMap((d) => walk(d));
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const problems = [];
for (const [f, targets] of graph) {
  for (const t of targets) {
    for (const [rule, breaks] of rules) if (breaks(f, t)) problems.push(`${f}: imports ${t}: ${rule}`);
  }
}

// Cycles: depth-first search, reporting each cycle once by its smallest member.
const state = new Map();
const seen = new Set();
function visit(f, stack) {
  state.set(f, 'open');
  stack.push(f);
  for (const t of graph.get(f) ?? []) {
    if (!graph.has(t)) continue;
    if (state.get(t) === 'open') {
      const cycle = stack.slice(stack.indexOf(t));
      const key = [...cycle].sort().join(' ');
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(`import cycle: ${[...cycle, t].join(' -> ')}`);
      }
    } else if (!state.has(t)) visit(t, stack);
  }
  stack.pop();
  state.set(f, 'done');
}
for (const f of graph.keys()) if (!state.has(f)) visit(f, []);

// Domain folders (server/gateway, agent/monitor, ...) form a one-way graph too: the root wires them,
// so a folder that imports a folder which imports it back blurs which of the two is below.
const folder = (p) => {
  const s = p.split('/');
  return s.length > 2 ? `${s[0]}/${s[1]}` : null;
};
const folderEdges = new Map();
for (const [f, targets] of graph)
  for (const t of targets) {
    const a = folder(f),
      b = folder(t);
    if (a && b && a !== b) {
      if (!folderEdges.has(a)) folderEdges.set(a, new Set());
      folderEdges.get(a).add(b);
    }
  }
const reaches = (from, to, seenF = new Set()) => {
  if (from === to) return true;
  if (seenF.has(from)) return false;
  seenF.add(from);
  return [...(folderEdges.get(from) ?? [])].some((n) => reaches(n, to, seenF));
};
for (const [a, bs] of folderEdges)
  for (const b of bs) {
    if (a < b && reaches(b, a)) problems.push(`folder cycle: ${a} and ${b} import each other (directly or through other folders)`);
  }

for (const p of problems) console.error(`lint-imports: ${p}`);
if (problems.length) process.exit(1);
console.log(`lint-imports: ${graph.size} modules, import rules hold, no cycles`);
