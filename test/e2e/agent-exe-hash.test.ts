/**
 * The agent's own executable hash in `hello`: it is
 * measured while the connection is set up, cached in the state dir by file
 * identity, and a cache whose identity no longer matches the file is not used.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXE_HASH_FILE } from '../../agent/daemon/runner.ts';
import { agentCommand, enrollAgent, initServer, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer | undefined;
after(() => server?.stop());

test('hello carries the hash of the running executable; a stale cache entry is measured again', async () => {
  server = await startServer(initServer());
  const a = enrollAgent(server, 'exe-hash');
  const exe = agentCommand().cmd; // the compiled agent, or Node running the TypeScript
  const truth = createHash('sha256').update(readFileSync(exe)).digest('hex');
  const reported = () => {
    const c = server!.ctx();
    try {
      return (c.db!.prepare('SELECT exe_sha256_reported AS r FROM hosts WHERE host = ?').get('exe-hash') as { r: string | null }).r;
    } finally {
      c.close();
    }
  };
  const runOnce = async () => {
    const p = runAgent(a);
    await p.waitLog((o) => o.msg === 'connected');
    p.signal('SIGTERM');
    assert.equal(await p.exited, 0);
  };

  await runOnce();
  assert.equal(reported(), truth);
  const cache = JSON.parse(readFileSync(join(a.stateDir, EXE_HASH_FILE), 'utf8')) as { path: string; id: string; sha256: string };
  assert.equal(cache.sha256, truth, 'kept for the next start');

  // A cache entry for another file identity (the file was replaced or rewritten) is ignored.
  const bogus = 'f'.repeat(64);
  writeFileSync(join(a.stateDir, EXE_HASH_FILE), JSON.stringify({ ...cache, id: `${cache.id}0`, sha256: bogus }));
  await runOnce();
  await waitFor(() => reported() === truth, { what: 'the measured hash reported again' });
  assert.notEqual(reported(), bogus);
});
