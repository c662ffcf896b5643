/**
 * A centralized AIDE run end to end: a real `serve`, a real `agent run` whose config names the host's
 * AIDE, the real Debian `aide` on a tree the test lays out. The server says when (`run-checker`), sends
 * its baseline's hashes of the checker's files; the agent verifies, runs and returns the result.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, initServer, openAlarms, type Proc, runAgent, serverCli, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOST = 'aide1';
const AIDE = '/usr/bin/aide';
let server: TestServer;
let agent: Proc;
let tree: string;
let conf: string;

interface RunRow {
  id: string;
  status: string;
  added: number | null;
  removed: number | null;
  changed: number | null;
  dbSha256: string | null;
  reason: string | null;
}

before(async () => {
  if (!existsSync(AIDE)) {
    console.log('# checker-run: skipped, Debian aide is not installed (.ci/run installs it)');
    return;
  }
  const dir = tempDir('tw-e2e-aide-');
  tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a'), 'a\n');
  writeFileSync(join(tree, 'b'), 'b\n');
  conf = join(dir, 'aide.conf');
  writeFileSync(conf, [`database_in=file:${dir}/aide.db`, `database_out=file:${dir}/aide.db.new`, 'gzip_dbout=no', `${tree} p+i+n+u+g+s+m+c+sha256`, ''].join('\n'));
  execFileSync(AIDE, ['--init', `--config=${conf}`], { stdio: 'ignore' });
  renameSync(join(dir, 'aide.db.new'), join(dir, 'aide.db'));
  server = await startServer(initServer());
  const a = enrollAgent(server, HOST, { extra: `fullScanEvery: 1h\ncheckers:\n  - { kind: aide, config: ${conf} }\n` });
  agent = runAgent(a);
  await waitForBaseline(server, HOST);
});

after(async () => {
  agent?.signal('SIGTERM');
  await agent?.exited;
  await server?.stop();
});

function runs(): RunRow[] {
  const r = serverCli(['checker-runs', HOST, '--json', '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as RunRow[];
}

/** Asks for a run now and waits until it ends; returns its row. */
async function runNow(): Promise<RunRow> {
  const r = serverCli(['run-checker', HOST, '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  const id = /run (\S+) on /.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  let row: RunRow | undefined;
  await waitFor(
    () => {
      row = runs().find((x) => x.id === id);
      return row && row.status !== 'scheduled' && row.status !== 'running';
    },
    { timeoutMs: 60_000, what: `run ${id} ended` },
  );
  return row!;
}

const kinds = async () => (await openAlarms(server, HOST)).map((a) => a.kind);

test('a clean run is ok, with the database hash the agent took after it', { skip: !existsSync(AIDE) && 'aide not installed' }, async () => {
  const row = await runNow();
  assert.equal(row.status, 'ok', JSON.stringify(row));
  assert.match(row.dbSha256 ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(
    (await kinds()).filter((k) => k.startsWith('checker-')),
    [],
  );
});

test('a changed file is a finding with its path and attributes, and opens checker-findings', { skip: !existsSync(AIDE) && 'aide not installed' }, async () => {
  writeFileSync(join(tree, 'a'), 'changed by the intruder\n');
  const row = await runNow();
  assert.equal(row.status, 'findings', JSON.stringify(row));
  assert.equal(row.changed, 1);
  const c = server.ctx();
  try {
    const entries = c.db!.prepare('SELECT path, change, attrs FROM checker_entries WHERE run_id = ?').all(row.id) as { path: string; change: string; attrs: string }[];
    const a = entries.find((e) => e.path === join(tree, 'a'));
    assert.ok(a, JSON.stringify(entries));
    assert.equal(a.change, 'changed');
    assert.match(a.attrs, /sha256|size/i);
  } finally {
    await c.close();
  }
  assert.ok((await kinds()).includes('checker-findings'));
});

test("the checker's config edited on the host: the run is refused before aide starts, checker-tampered names the file", {
  skip: !existsSync(AIDE) && 'aide not installed',
}, async () => {
  appendFileSync(conf, '# the intruder quiets a directory here\n');
  // The agent reports the edit (a critical file) at once; the server's baseline keeps the hash it accepted.
  await waitFor(async () => (await openAlarms(server, HOST)).some((a) => a.kind === 'file-changed' && a.subject === conf), { what: 'file-changed on the config' });
  const row = await runNow();
  assert.equal(row.status, 'refused', JSON.stringify(row));
  const t = (await openAlarms(server, HOST)).find((a) => a.kind === 'checker-tampered');
  assert.ok(t, JSON.stringify(await kinds()));
  assert.equal(t.severity, 'critical');
  assert.match(JSON.stringify(t.detail), new RegExp(conf.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
});
