/**
 * The error catalogues, the codes the source raises and docs/ERRORS.md agree:
 * a code used but not catalogued or not documented, or catalogued or documented
 * but never used, fails here. The source tree is read as it is, so a code added
 * anywhere without its entry and its row fails too.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_ERRORS, agentError } from '../../agent/errors.ts';
import { SERVER_ERRORS, serverError } from '../../server/errors.ts';
import { type ErrorCatalogue, errorLine, SHARED_ERRORS, sharedError } from '../../shared/errors.ts';
import { CloseCode } from '../../shared/protocol.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CATALOGUE_FILES = new Set(['shared/errors.ts', 'server/errors.ts', 'agent/errors.ts']);
const CATALOGUES: Record<'both' | 'server' | 'agent', ErrorCatalogue> = { both: SHARED_ERRORS, server: SERVER_ERRORS, agent: AGENT_ERRORS };

/** Every TypeScript source file of one side, relative to the repository root. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const files = ['shared', 'server', 'agent'].flatMap(sources);
const text = new Map(files.map((f) => [f, readFileSync(join(root, f), 'utf8')]));

/** Codes the source names in quotes (raised, compared, documented in TSDoc), by file. */
function usedCodes(): Map<string, Set<string>> {
  const used = new Map<string, Set<string>>();
  for (const [f, src] of text) {
    if (CATALOGUE_FILES.has(f)) continue;
    for (const m of src.matchAll(/['"`](TW_[A-Z][A-Z0-9_]*)['"`]/g)) {
      let set = used.get(m[1]!);
      if (!set) used.set(m[1]!, (set = new Set()));
      set.add(f);
    }
  }
  return used;
}

interface DocRow {
  side: string;
  exit: string;
  when: string;
  todo: string;
}

/** The rows of the code table of docs/ERRORS.md, by code. */
function documented(): Map<string, DocRow> {
  const rows = new Map<string, DocRow>();
  for (const line of readFileSync(join(root, 'docs/ERRORS.md'), 'utf8').split('\n')) {
    const m = /^\| ([^|]+) \| `(TW_[A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[2]!), `${m[2]} has two rows in docs/ERRORS.md`);
    rows.set(m[2]!, { side: m[1]!, exit: m[3]!, when: m[4]!, todo: m[5]! });
  }
  return rows;
}

test('every code the source uses is catalogued, on the side that uses it', () => {
  const used = usedCodes();
  assert.ok(used.size >= 20, `found only ${used.size} codes: is the scan still reading the source?`);
  for (const [code, where] of used) {
    for (const f of where) {
      const side = f.split('/')[0] as 'shared' | 'server' | 'agent';
      const allowed = side === 'shared' ? [SHARED_ERRORS] : [SHARED_ERRORS, CATALOGUES[side]];
      assert.ok(
        allowed.some((c) => code in c),
        `${f} uses ${code}, which is in no catalogue it can raise from (add it to ${side === 'shared' ? 'shared' : side}/errors.ts)`,
      );
    }
  }
});

test('every catalogued code is used by the source, and is in one catalogue only', () => {
  const used = usedCodes();
  const seen = new Set<string>();
  for (const [side, cat] of Object.entries(CATALOGUES)) {
    for (const code of Object.keys(cat)) {
      assert.ok(!seen.has(code), `${code} is in two catalogues`);
      seen.add(code);
      assert.ok(used.has(code), `${code} (${side}) is catalogued but nothing raises it: remove its entry and its row in docs/ERRORS.md`);
    }
  }
});

test('docs/ERRORS.md has one row per catalogued code, with its side, exit status, when and what to do', () => {
  const docs = documented();
  for (const [side, cat] of Object.entries(CATALOGUES)) {
    for (const [code, entry] of Object.entries(cat)) {
      const row = docs.get(code);
      assert.ok(row, `${code} is not documented in docs/ERRORS.md`);
      assert.ok(row.side === side || row.side.startsWith(`${side} (`), `${code}: side "${row.side}", catalogued on ${side}`);
      if (row.exit !== '—') assert.equal(Number(row.exit), entry.exit ?? 1, `${code}: exit status`);
      assert.equal(row.when, entry.when, `${code}: "when" differs from the catalogue`);
      assert.equal(row.todo, entry.todo, `${code}: "what to do" differs from the catalogue`);
    }
  }
  const catalogued = new Set(Object.values(CATALOGUES).flatMap((c) => Object.keys(c)));
  for (const code of docs.keys()) assert.ok(catalogued.has(code), `docs/ERRORS.md documents ${code}, which no catalogue has`);
});

test('errors are made only by the catalogue factories, and their lines only by errorLine', () => {
  for (const [f, src] of text) {
    if (f === 'shared/errors.ts') continue;
    assert.doesNotMatch(src, /new TwError\(/, `${f} makes a TwError by hand: use sharedError, serverError or agentError`);
    assert.doesNotMatch(src, /error TW_/, `${f} writes an error line by hand: use errorLine, which adds the what-to-do`);
  }
});

test("every error line ends with the catalogue's what to do, and the exit status is the entry's", () => {
  const e = serverError('TW_HOST_UNKNOWN', 'no enrolled host named "x"');
  assert.equal(errorLine('tripwarden-server', e), `tripwarden-server: error TW_HOST_UNKNOWN: no enrolled host named "x"; ${SERVER_ERRORS.TW_HOST_UNKNOWN.todo}`);
  assert.equal(e.exitCode, 1);
  assert.equal(sharedError('TW_ARGS', 'x').exitCode, 2);
  assert.equal(agentError('TW_SERVER_MISMATCH', 'x').exitCode, 2);
  assert.match(
    errorLine('tripwarden-agent', agentError('TW_NOT_ENROLLED', 'no certificate in /s')),
    /^tripwarden-agent: error TW_NOT_ENROLLED: no certificate in \/s; run `enroll /,
  );
  // Checked by tsc, never run: the directives fail the type check if these calls ever compile.
  const typeChecks = () => [
    // @ts-expect-error an uncatalogued code does not type-check
    serverError('TW_NO_SUCH_CODE', 'x'),
    // @ts-expect-error nor does another side's code
    agentError('TW_HOST_UNKNOWN', 'x'),
  ];
  assert.equal(typeof typeChecks, 'function');
});

test('close codes: every one is a documented CloseCode member, and no numeric close code is left in the source', () => {
  const docs = readFileSync(join(root, 'docs/ERRORS.md'), 'utf8');
  for (const [name, code] of Object.entries(CloseCode)) {
    assert.match(docs, new RegExp(`^\\| ${code} \\| \`${name}\` \\|`, 'm'), `CloseCode.${name} (${code}) is not in docs/ERRORS.md`);
  }
  for (const [f, src] of text) {
    if (f === 'shared/protocol.ts') continue;
    const m = /\b(?:close|closeHost|closeAll)\([^)]*?\b(?:1\d{3}|4\d{3})\b[^)]*\)/.exec(src) ?? /code\s*[!=]==?\s*(?:1\d{3}|4\d{3})\b/.exec(src);
    assert.equal(m, null, `${f}: ${m?.[0]} uses a numeric close code; name it in CloseCode`);
  }
});
