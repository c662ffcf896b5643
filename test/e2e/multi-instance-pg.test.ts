/**
 * Two real `serve` processes (alpha, and bravo made by `init --join`) on one PostgreSQL database, and a real
 * agent whose `server:` lists both: kill -9 of the instance holding the agent moves it to the other within
 * seconds, with no agent-missing and one server-instance-down. Skipped, saying why, without PGHOST.
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openServerContext, type ServerContext } from '../../server/context.ts';
import { systemClock } from '../../shared/clock.ts';
import { enrollAgent, initServer, type Proc, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { freshPgDatabase, PG_SKIP } from '../helpers/engines.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'oscar';
let alpha: TestServer;
let bravo: TestServer;
let agent: Proc | undefined;
/** One reader on the shared database for the whole file (a context per poll would open a pool per poll). */
let reader: ServerContext | undefined;
let drop: (() => Promise<void>) | undefined;

if (PG_SKIP) console.log(`# multi-instance-pg skipped: ${PG_SKIP}`);

/** Points a data dir's server.yml at the PostgreSQL database. */
function usePg(dir: string, url: string): void {
  const cfg = join(dir, 'server.yml');
  const text = readFileSync(cfg, 'utf8').replace(/^database: .*\n/m, '');
  writeFileSync(cfg, `${text.replace(/\n?$/, '\n')}database: ${url}\n`);
}

const held = async () => reader!.hosts.get(HOST);
const alarmsOf = async (host: string, kind: string) => (await reader!.alarms.list({ host })).filter((a) => a.kind === kind);
const liveness = async () => (await reader!.alarms.list({ host: HOST })).filter((a) => ['agent-missing', 'agent-disconnected', 'replay', 'identity-clone'].includes(a.kind));

before(async () => {
  if (PG_SKIP) return;
  const pg = await freshPgDatabase();
  drop = pg.drop;
  // The same proportions as the SQLite cluster (multi-instance.test.ts): a 1 s agent, grace 20 s, lease 10 s.
  const init = initServer({ grace: '20s' });
  const cfg = join(init.dir, 'server.yml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^instance: .*$/m, 'instance: alpha'));
  const bravoDir = join(tempDir('tw-srv-'), 'data');
  const j = serverCli(['init', '--dir', bravoDir, '--join', init.dir, '--instance', 'bravo']);
  assert.equal(j.code, 0, j.stderr);
  usePg(init.dir, pg.url);
  usePg(bravoDir, pg.url);
  alpha = await startServer(init);
  bravo = await startServer({ dir: bravoDir, fingerprint: init.fingerprint });
  reader = openServerContext(init.dir, systemClock);
  assert.equal(reader.sql.engine, 'postgres');
});

after(async () => {
  agent?.signal('SIGKILL');
  alpha?.proc.signal('SIGKILL');
  await bravo?.stop();
  await alpha?.proc.exited;
  await reader?.sql.close();
  await drop?.();
});

test('on PostgreSQL, kill -9 of the instance holding the agent: up on the other within seconds, no agent-missing, server-instance-down once', {
  skip: PG_SKIP ?? false,
}, async () => {
  const a = enrollAgent(alpha, HOST, { interval: '1s', jitter: '100ms' });
  writeFileSync(a.config, readFileSync(a.config, 'utf8').replace(/^server: .*$/m, `server: [${alpha.url}, ${bravo.url}]\nfailback: 3s`));
  agent = runAgent(a);
  await waitFor(
    async () => {
      const h = await held();
      return h?.status === 'up' && h.instance === 'alpha' && h.connected;
    },
    { what: 'agent up on alpha', timeoutMs: 30_000 },
  );

  alpha.proc.signal('SIGKILL');
  await alpha.proc.exited;
  const killedAt = Date.now();
  await waitFor(
    async () => {
      const h = await held();
      return h?.instance === 'bravo' && h.connected && h.status === 'up';
    },
    { what: 'agent up on bravo', timeoutMs: 15_000 },
  );
  const moved = Date.now() - killedAt;
  console.log(`# failover on PostgreSQL after kill -9: up on bravo ${moved} ms after the kill`);
  assert.ok(moved < 5_000, `up on the other instance within a few seconds (${moved} ms)`);

  await waitFor(async () => (await alarmsOf('alpha', 'server-instance-down')).length === 1, { what: 'server-instance-down for alpha', timeoutMs: 30_000 });
  const i = JSON.parse(serverCli(['instances', '--dir', bravo.dir, '--json']).stdout) as { name: string; status: string }[];
  assert.equal(i.find((x) => x.name === 'alpha')!.status, 'down');
  assert.deepEqual(await liveness(), [], 'no agent-missing, agent-disconnected or replay');
});
