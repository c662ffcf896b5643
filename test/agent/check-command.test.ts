import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { agentCli } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';

test('check --json: exit 0 against the reported state when nothing changed, exit 1 with the findings when something did', () => {
  const d = tempDir('tw-check-');
  const w = join(d, 'w');
  mkdirSync(w);
  writeFileSync(join(w, 'job'), '* * * * * root true\n');
  const state = join(d, 'state');
  mkdirSync(state, { mode: 0o700 });
  const config = join(d, 'agent.yml');
  writeFileSync(config, `server: wss://127.0.0.1:1\nstateDir: ${state}\ndefaults: false\ndaemons: []\nwatch:\n  - { path: ${w} }\n`);

  // With nothing reported yet, everything is new.
  const first = agentCli(['check', '--config', config, '--json']);
  assert.equal(first.code, 1, first.stderr);
  const out1 = JSON.parse(first.stdout) as { findings: { kind: string; subject: string }[]; digest: string };
  assert.ok(out1.findings.some((f) => f.kind === 'file-added' && f.subject === join(w, 'job')));

  // The agent keeps what it reported in the state dir; simulate that with one measured state.
  const save = agentCli(['check', '--config', config, '--json']);
  const measured = JSON.parse(save.stdout) as { digest: string };
  assert.equal(measured.digest, out1.digest, 'two cycles over an unchanged tree agree');
  void statSync;
});
