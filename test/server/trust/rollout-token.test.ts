import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKeyAndCsr } from '../../../agent/identity/csr.ts';
import { CommandQueue } from '../../../server/storage/command-queue.ts';
import { PG_MIGRATIONS } from '../../../server/storage/migrations/index.ts';
import { openSqlDb } from '../../../server/storage/open-db.ts';
import { createCa } from '../../../server/trust/ca.ts';
import { enrollHost } from '../../../server/trust/enrollment.ts';
import { ANY_HOST, issueToken } from '../../../server/trust/tokens.ts';
import { serverCli } from '../../helpers/cluster.ts';
import { describeEngines, openTestDb, PG_SKIP } from '../../helpers/engines.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { tempDir } from '../../helpers/temp.ts';

const ca = createCa('test CA');

describeEngines('rollout tokens', ({ open }) => {
  async function rollout() {
    const db = await open();
    const clock = new FakeClock();
    const deps = { sql: db, ca, clock, commands: new CommandQueue(db) };
    const token = () => issueToken(db, { host: ANY_HOST, group: 'web', ttlMs: 3_600_000, replace: false, now: clock.now() });
    const enroll = (tok: string, name: string) => enrollHost(deps, { token: tok, csr: createKeyAndCsr(name).csrPem });
    return { db, token, enroll };
  }

  test("a rollout token enrolls the host under the name its request asks for, into the token's group, once", async () => {
    const { db, token, enroll } = await rollout();
    const tok = await token();
    assert.equal((await enroll(tok, 'web7')).host, 'web7');
    assert.equal((await db.get<{ grp: string }>('SELECT grp FROM hosts WHERE host = ?', ['web7']))!.grp, 'web');
    await assert.rejects(enroll(tok, 'web8'), { code: 'TW_TOKEN_USED' });
  });

  test("a rollout token cannot take an enrolled host's name, and the refusal leaves it unspent", async () => {
    const { token, enroll } = await rollout();
    assert.equal((await enroll(await token(), 'web1')).host, 'web1');
    const tok = await token();
    await assert.rejects(enroll(tok, 'web1'), (e: Error & { code: string }) => e.code === 'TW_HOST_EXISTS' && /web1 is already enrolled/.test(e.message));
    await assert.rejects(enroll(tok, '<b>x'), { code: 'TW_HOST_NAME' });
    assert.equal((await enroll(tok, 'web2')).host, 'web2');
  });

  test('a rollout token cannot replace a host', async () => {
    const { db } = await rollout();
    await assert.rejects(issueToken(db, { host: ANY_HOST, group: 'g', ttlMs: 1, replace: true, now: 0 }), { code: 'TW_HOST_NAME' });
  });

  test('a --replace token re-enrolls the host, and queues the close of its old connection', async () => {
    const { db } = await rollout();
    const clock = new FakeClock();
    const commands = new CommandQueue(db);
    const deps = { sql: db, ca, clock, commands };
    const first = await issueToken(db, { host: 'web1', group: 'web', ttlMs: 3_600_000, replace: false, now: clock.now() });
    await enrollHost(deps, { token: first, csr: createKeyAndCsr('web1').csrPem });
    const before = (await db.get<{ cert_serial: string }>('SELECT cert_serial FROM hosts WHERE host = ?', ['web1']))!.cert_serial;
    const again = await issueToken(db, { host: 'web1', group: 'db', ttlMs: 3_600_000, replace: true, now: clock.now() });
    assert.equal((await enrollHost(deps, { token: again, csr: createKeyAndCsr('web1').csrPem })).host, 'web1');
    const after = (await db.get<{ cert_serial: string; grp: string }>('SELECT cert_serial, grp FROM hosts WHERE host = ?', ['web1']))!;
    assert.notEqual(after.cert_serial, before, 'only the new certificate is accepted');
    assert.equal(after.grp, 'db');
    assert.deepEqual(
      (await commands.after(0)).map((c) => [c.action, c.host, c.arg]),
      [['close-host', 'web1', 'replaced']],
    );
  });
});

test('one token used by two instances on the same PostgreSQL database at once: one enrollment wins', { skip: PG_SKIP ?? false }, async () => {
  const t = await openTestDb('postgres');
  const second = openSqlDb(t.target, PG_MIGRATIONS);
  try {
    await second.ready();
    const clock = new FakeClock();
    const instances = [t.db, second].map((db) => ({ sql: db, ca, clock, commands: new CommandQueue(db) }));
    for (let round = 0; round < 5; round++) {
      const tok = await issueToken(t.db, { host: ANY_HOST, group: 'web', ttlMs: 3_600_000, replace: false, now: clock.now() });
      const out = await Promise.allSettled(instances.map((d, i) => enrollHost(d, { token: tok, csr: createKeyAndCsr(`r${round}-i${i}`).csrPem })));
      const won = out.filter((o) => o.status === 'fulfilled');
      const lost = out.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}: exactly one enrollment wins`);
      assert.equal(lost.length, 1);
      assert.equal((lost[0]!.reason as { code?: string }).code, 'TW_TOKEN_USED', `round ${round}: the other is told the token is used`);
      const hosts = await t.db.all<{ host: string }>('SELECT host FROM hosts WHERE host LIKE ?', [`r${round}-%`]);
      assert.equal(hosts.length, 1, 'one host enrolled by the token');
    }
  } finally {
    await second.close();
    await t.cleanup();
  }
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
