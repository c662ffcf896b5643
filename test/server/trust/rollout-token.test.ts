import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKeyAndCsr } from '../../../agent/identity/csr.ts';
import { CommandQueue } from '../../../server/storage/command-queue.ts';
import { createCa } from '../../../server/trust/ca.ts';
import { enrollHost } from '../../../server/trust/enrollment.ts';
import { ANY_HOST, issueToken } from '../../../server/trust/tokens.ts';
import { serverCli } from '../../helpers/cluster.ts';
import { serverDb } from '../../helpers/server-db.ts';
import { tempDir } from '../../helpers/temp.ts';

const ca = createCa('test CA');

function rollout() {
  const s = serverDb();
  const deps = { db: s.db, ca, clock: s.clock, commands: new CommandQueue(s.db) };
  const token = () => issueToken(s.db, { host: ANY_HOST, group: 'web', ttlMs: 3_600_000, replace: false, now: s.clock.now() });
  const enroll = (tok: string, name: string) => enrollHost(deps, { token: tok, csr: createKeyAndCsr(name).csrPem });
  return { s, token, enroll };
}

test("a rollout token enrolls the host under the name its request asks for, into the token's group, once", () => {
  const { s, token, enroll } = rollout();
  const tok = token();
  assert.equal(enroll(tok, 'web7').host, 'web7');
  assert.equal((s.db.prepare('SELECT grp FROM hosts WHERE host = ?').get('web7') as { grp: string }).grp, 'web');
  assert.throws(() => enroll(tok, 'web8'), { code: 'TW_TOKEN_USED' });
});

test("a rollout token cannot take an enrolled host's name, and the refusal leaves it unspent", () => {
  const { token, enroll } = rollout();
  assert.equal(enroll(token(), 'web1').host, 'web1');
  const tok = token();
  assert.throws(
    () => enroll(tok, 'web1'),
    (e: Error & { code: string }) => e.code === 'TW_HOST_EXISTS' && /web1 is already enrolled/.test(e.message),
  );
  assert.throws(() => enroll(tok, '<b>x'), { code: 'TW_HOST_NAME' });
  assert.equal(enroll(tok, 'web2').host, 'web2');
});

test('a rollout token cannot replace a host', () => {
  const { s } = rollout();
  assert.throws(() => issueToken(s.db, { host: ANY_HOST, group: 'g', ttlMs: 1, replace: true, now: 0 }), { code: 'TW_HOST_NAME' });
});

test('token --count N --group G prints N distinct tokens, one a line, or a JSON array with --json', () => {
  const dir = `${tempDir()}/data`;
  assert.equal(serverCli(['init', '--dir', dir]).code, 0);
  const text = serverCli(['token', '--count', '5', '--group', 'web', '--dir', dir]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 5);
  assert.equal(new Set(lines).size, 5);
  for (const l of lines) assert.match(l, /^twt_[\w-]{12}_[\w-]{32}$/);
  const json = serverCli(['token', '--count', '2', '--json', '--dir', dir]);
  assert.equal(json.code, 0, json.stderr);
  const arr = JSON.parse(json.stdout) as string[];
  assert.equal(arr.length, 2);
  for (const bad of [
    ['web1', '--count', '2'],
    ['--count', '0'],
    ['--count', 'x'],
    ['--count', '2', '--replace'],
  ]) {
    const r = serverCli(['token', ...bad, '--dir', dir]);
    assert.equal(r.code, 2, bad.join(' '));
    assert.match(r.stderr, /^tripwarden-server: error TW_ARGS: [^\n]+\n$/);
  }
});
