/**
 * The compiled agent, installed under another name and path: it enrolls,
 * runs, heartbeats, catches a change to a guarded file, and is caught when its
 * own executable is changed on disk — live (inotify on itself) and at its next
 * start (the hash in `hello`).
 */

import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, openAlarms, runAgent, startServer, type TestServer, waitForBaseline } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const built = process.env.TRIPWARDEN_AGENT_EXE;
let server: TestServer;
before(async () => {
  if (!built) return;
  server = await startServer(initServer({ grace: '1s' }));
});
after(() => server?.stop());

test('the compiled agent under another name: heartbeats, sees a guarded change, is caught when its own file changes', {
  skip: built ? false : 'no compiled agent: set TRIPWARDEN_AGENT_EXE (npm test builds dist/tripwarden-agent and sets it)',
}, async () => {
  const dir = tempDir('tw-exe-');
  const exe = join(dir, 'sbin', 'kworker-helper');
  mkdirSync(join(dir, 'sbin'));
  copyFileSync(built!, exe);
  chmodSync(exe, 0o700);
  const guarded = join(dir, 'guarded');
  mkdirSync(guarded);
  writeFileSync(join(guarded, 'policy'), 'rule\n');
  const prev = process.env.TRIPWARDEN_AGENT_EXE;
  process.env.TRIPWARDEN_AGENT_EXE = exe;
  try {
    const a = enrollAgent(server, 'sierra', { extra: `processTitle: kworker/u8:2\nwatch:\n  - { path: ${guarded}, critical: true }\n` });
    let p = runAgent(a);
    await waitFor(async () => (await hostStatus(server, 'sierra')) === 'up', { what: 'sierra up' });
    // Camouflage: ps shows the chosen title, and neither argv nor the output names the server or the config path.
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
    assert.equal(cmdline, 'kworker/u8:2');
    assert.equal(readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim().length > 0, true);
    const output = p.lines.join('\n');
    assert.ok(!output.includes(String(server.port)), 'the output does not reveal the server address');
    assert.ok(!output.includes(a.config), 'the output does not reveal the config path');
    await waitForBaseline(server, 'sierra', 15_000);

    appendFileSync(join(guarded, 'policy'), 'tampered\n');
    await waitFor(async () => (await openAlarms(server, 'sierra')).some((x) => x.kind === 'file-changed' && x.subject.endsWith('/policy')), {
      timeoutMs: 5000,
      what: 'file-changed',
    });

    // A running executable cannot be written (ETXTBSY): an intruder replaces it by rename, as package managers do.
    copyFileSync(exe, `${exe}.new`);
    appendFileSync(`${exe}.new`, Buffer.from('patched'));
    chmodSync(`${exe}.new`, 0o700);
    renameSync(`${exe}.new`, exe);
    await waitFor(async () => (await openAlarms(server, 'sierra')).some((x) => x.kind === 'agent-tampered' && x.subject === exe), {
      timeoutMs: 5000,
      what: 'agent-tampered on its own file',
    });

    p.signal('SIGTERM');
    await p.exited;
    p = runAgent(a);
    await waitFor(async () => (await openAlarms(server, 'sierra')).some((x) => x.kind === 'agent-tampered' && x.subject === 'agent executable changed'), {
      timeoutMs: 10_000,
      what: 'agent-tampered from hello',
    });
    p.signal('SIGKILL');
  } finally {
    process.env.TRIPWARDEN_AGENT_EXE = prev;
  }
});
