/**
 * An operator's mistakes at enrollment are named as what they are, before the token is spent:
 * a --config that does not exist, a --server name the server certificate does not carry
 * (fixed with `server-cert --san` and a restart of serve).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentCli, initServer, Proc, ROOT, serverCli } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';

let init: { dir: string; fingerprint: string };
let serve: Proc | undefined;

/** Starts serve on every address (so 127.0.0.2, a name its certificate lacks, reaches it); returns its port. */
async function startServe(): Promise<number> {
  serve = new Proc(
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'serve', '--dir', init.dir, '--listen', '0.0.0.0:0', '--dashboard', '127.0.0.1:0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const line = await serve.waitLog((o) => o.msg === 'serving', 30_000);
  return Number(String(line.gateway).split(':').pop());
}

async function stopServe(): Promise<void> {
  serve?.signal('SIGTERM');
  await serve?.exited;
  serve = undefined;
}

before(async () => {
  init = initServer();
});
after(stopServe);

function enroll(url: string, token: string, config: string) {
  return agentCli(['enroll', '--server', url, '--token', token, '--ca-sha256', init.fingerprint, '--config', config]);
}

/** A config naming `url`, with its state dir beside it. */
function config(url: string): { path: string; stateDir: string } {
  const dir = tempDir('tw-enroll-');
  const path = join(dir, 'agent.yml');
  writeFileSync(path, `server: ${url}\nstateDir: ${join(dir, 'state')}\n`);
  return { path, stateDir: join(dir, 'state') };
}

test('enroll --config naming a missing file is refused in one line, writes nothing and leaves the token unspent', async () => {
  const port = await startServe();
  try {
    const url = `wss://127.0.0.1:${port}`;
    const token = serverCli(['token', 'alpha', '--dir', init.dir]).stdout.trim();
    const missing = join(tempDir('tw-enroll-'), 'etc', 'agent.yml');
    const r = enroll(url, token, missing);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^tripwarden-agent: error TW_CONFIG_MISSING: --config \S+agent\.yml does not exist; [^\n]+\n$/);
    assert.ok(!existsSync(missing), 'no config made up');
    const good = config(url);
    const ok = enroll(url, token, good.path);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'enrolled as alpha\n');
    assert.ok(existsSync(join(good.stateDir, 'agent.crt')));
  } finally {
    await stopServe();
  }
});

test('a --server name the server certificate lacks is reported with the names it has and server-cert --san; after server-cert and a restart the same token enrolls', async () => {
  let port = await startServe();
  const token = serverCli(['token', 'bravo', '--dir', init.dir]).stdout.trim();
  let url = `wss://127.0.0.2:${port}`;
  const r = enroll(url, token, config(url).path);
  await stopServe();
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^tripwarden-agent: error TW_SERVER_NAME_MISMATCH: the server certificate does not name 127\.0\.0\.2; it names [^\n]*localhost[^\n]*127\.0\.0\.1[^\n]*; [^\n]*`tripwarden server-cert --dir D --san NAME`[^\n]*\n$/,
  );
  assert.doesNotMatch(r.stderr, /network/);

  const cert = serverCli(['server-cert', '--dir', init.dir, '--san', '127.0.0.2']);
  assert.equal(cert.code, 0, cert.stderr);
  assert.match(cert.stdout, /^wrote \S+server\.crt for localhost, [^\n]*127\.0\.0\.2\n.*restart/s);
  port = await startServe();
  url = `wss://127.0.0.2:${port}`;
  const ok = enroll(url, token, config(url).path);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'enrolled as bravo\n');
});
