/**
 * The daemon's checker wiring: `hello` declares the configured checker with
 * its files, a `run-checker` from the server runs it, and the result comes
 * back as a spooled record. Real mutual TLS on loopback, real aide; the
 * "server" is a bare ws endpoint the test scripts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../../agent/daemon/runner.ts';
import { hashFileSync } from '../../../agent/hashing/hash-file.ts';
import { statePaths } from '../../../agent/identity/state-files.ts';
import type { CheckerDeclaration, CheckerResultBody } from '../../../shared/checker-messages.ts';
import { systemClock } from '../../../shared/clock.ts';
import { silentLogger } from '../../../shared/log.ts';
import { linkPeer } from '../../helpers/link-peer.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../../helpers/wait.ts';

test('hello declares the configured aide with its files; run-checker runs it and the result arrives as a spooled record', async () => {
  const { wss, url, identity, close } = await linkPeer('mike');
  const dir = tempDir('tw-aide-');
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a'), 'a\n');
  const conf = join(dir, 'aide.conf');
  writeFileSync(conf, `database_in=file:${dir}/aide.db\ndatabase_out=file:${dir}/aide.db.new\ngzip_dbout=no\n${tree} p+sha256\n`);
  execFileSync('/usr/bin/aide', ['--init', `--config=${conf}`], { stdio: 'ignore' });
  renameSync(join(dir, 'aide.db.new'), join(dir, 'aide.db'));
  const stateDir = tempDir();
  const sp = statePaths(stateDir);
  writeFileSync(sp.key, identity.keyPem, { mode: 0o600 });
  writeFileSync(sp.cert, identity.certPem);
  writeFileSync(sp.ca, identity.caPem);
  const configPath = join(tempDir(), 'agent.yml');
  writeFileSync(
    configPath,
    `server: ${url}\nstateDir: ${stateDir}\ninterval: 1s\njitter: 0s\ndefaults: false\nports: false\nfallback: [${join(stateDir, 'fallback.log')}]\ncheckers:\n  - { kind: aide, config: ${conf} }\n`,
  );
  let hello: { checkers?: CheckerDeclaration[] } | undefined;
  const results: CheckerResultBody[] = [];
  const runId = '00000000-0000-4000-8000-00000000abcd';
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; seq: number; checkers?: CheckerDeclaration[]; record?: { n: number; hash: string; body: { kind: string } } };
      if (m.type === 'hello') {
        hello = m;
        ws.send(JSON.stringify({ type: 'welcome', host: 'mike', serverTime: Date.now(), interval: 1000 }));
        const files = m.checkers?.[0]?.files ?? [];
        const expect = files.map((path) => ({ path, sha256: hashFileSync(path).sha256 }));
        ws.send(JSON.stringify({ type: 'run-checker', runId, checker: 'aide', expect, timeoutMs: 120_000 }));
      } else if (m.type === 'record' && m.record) {
        if (m.record.body.kind === 'checker-result') results.push(m.record.body as unknown as CheckerResultBody);
        ws.send(JSON.stringify({ type: 'spool-ack', n: m.record.n, hash: m.record.hash }));
      } else if (m.type === 'goodbye') ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
  });
  const agent = startAgent({ configPath, clock: systemClock, log: silentLogger() });
  try {
    await waitFor(() => results.length > 0, { timeoutMs: 60_000, what: 'the checker result record' });
    const files = hello?.checkers?.[0]?.files ?? [];
    assert.equal(hello?.checkers?.[0]?.kind, 'aide');
    for (const f of ['/usr/bin/aide', conf, join(dir, 'aide.db')]) assert.ok(files.includes(f), `hello declares ${f}`);
    assert.equal(results[0]?.runId, runId);
    assert.equal(results[0]?.status, 'ok', results[0]?.reason);
    assert.equal(results[0]?.dbSha256, hashFileSync(join(dir, 'aide.db')).sha256);
  } finally {
    await agent.stop('test');
    close();
  }
});
