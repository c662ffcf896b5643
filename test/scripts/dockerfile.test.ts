import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

/** Instructions as [KEYWORD, arguments], continuation lines joined, comments dropped. */
function instructions(text: string): Array<[string, string]> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l);
      return [m?.[1]?.toUpperCase() ?? '', (m?.[2] ?? '').replace(/\s+/g, ' ')];
    });
}
const all = instructions(dockerfile);
const args = (keyword: string): string[] => all.filter(([k]) => k === keyword).map(([, a]) => a);

test('the Dockerfile passes dockerfile-utils validation with no diagnostic at all', () => {
  const diagnostics = validate(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  assert.deepEqual(diagnostics, []);
});

test('the linter does catch a broken Dockerfile (so the check above means something)', () => {
  assert.ok(validate('FROM node:20\nRUNN true\nEXPOSE port\n').length >= 2);
});

test('a build stage compiles on node:20-bookworm, the runtime is node:20-bookworm-slim', () => {
  assert.deepEqual(args('FROM'), ['node:20-bookworm AS build', 'node:20-bookworm-slim']);
  assert.ok(args('ENV').includes('npm_config_nodedir=/usr/local'), "node-gyp must find the image's Node headers");
  assert.ok(
    args('RUN').some((r) => /npm ci --omit=dev/.test(r)),
    'dev dependencies stay out of the image',
  );
  assert.ok(args('COPY').some((c) => c.startsWith('--from=build ')));
});

test('the server runs as a non-root user with its data on a volume', () => {
  const users = args('USER');
  assert.equal(users.length, 1);
  assert.doesNotMatch(users[0] ?? '', /^(root|0)(:|$)/);
  assert.deepEqual(args('VOLUME'), ['/data']);
  assert.deepEqual(args('EXPOSE'), ['7443 7080']);
  assert.equal(args('HEALTHCHECK').length, 1);
  assert.match(args('HEALTHCHECK')[0] ?? '', /CMD \["node", "\/opt\/tripwarden\/scripts\/healthcheck\.mjs"\]/);
  assert.deepEqual(args('ENTRYPOINT'), ['["node", "--import", "tsx", "server/main.ts"]']);
  assert.deepEqual(args('CMD'), ['["serve", "--dir", "/data"]']);
});

test('.dockerignore keeps secrets, builds and local installs out of the context', () => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  for (const p of ['.git', 'node_modules', 'dist', 'demo-data', 'test-artifacts']) assert.ok(ignored.includes(p), `${p} not ignored`);
});
