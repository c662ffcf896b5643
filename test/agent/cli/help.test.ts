import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_HELP } from '../../../agent/cli/help.ts';
import { agentCli } from '../../helpers/cluster.ts';

test('tripwarden-agent --help lists enroll, run and check with their usage, exit 0', () => {
  const r = agentCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: tripwarden-agent COMMAND/);
  for (const name of ['enroll', 'run', 'check']) assert.match(r.stdout, new RegExp(`^ {2}tripwarden-agent ${name} --`, 'm'));
});

test('enroll, run and check answer --help and -h with usage and an example, exit 0, before anything else runs', () => {
  for (const name of Object.keys(AGENT_HELP)) {
    // --config names nothing that exists: help must come before the config is read
    for (const args of [
      [name, '--help'],
      [name, '-h'],
      [name, '--config', '/nonexistent/agent.yml', '--help'],
    ]) {
      const r = agentCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: tripwarden-agent ${name} `));
      assert.match(r.stdout, new RegExp(`^examples?:\\n {2}tripwarden-agent ${name} `, 'm'));
    }
  }
});

test('an unknown agent command or flag is one line naming it and --help, exit 2', () => {
  const cmd = agentCli(['chek']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /^tripwarden-agent: error TW_ARGS: unknown command "chek" \(`tripwarden-agent --help` lists the commands\); [^\n]*\n$/);
  const flag = agentCli(['check', '--config', '/x', '--jsn']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^tripwarden-agent: error TW_ARGS: unknown flag --jsn \(usage: check --config C \[--json\]\); [^\n]*`--help` after the command[^\n]*\n$/);
});
