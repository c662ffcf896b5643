import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cluster.ts';

const doc = readFileSync(join(ROOT, 'docs', 'DEPLOY.md'), 'utf8');

interface Task {
  name: string;
  [module: string]: unknown;
}

// Ansible is not installed on the test machine: this checks the play's shape, not a run.
test('the Ansible play in docs/DEPLOY.md installs the package, enrolls once per host with its own token, and starts the agent', () => {
  const text = /^```yaml ansible\n([\s\S]*?)^```$/m.exec(doc)?.[1];
  assert.ok(text, 'DEPLOY.md has a ```yaml ansible block');
  const [play] = parse(text) as Array<{ hosts: string; become: boolean; tasks: Task[] }>;
  assert.ok(play);
  assert.equal(play.become, true);
  const task = (module: string): Task => {
    const t = play.tasks.find((x) => module in x);
    assert.ok(t, `a task using ${module}`);
    return t;
  };
  const order = ['ansible.builtin.apt', 'ansible.builtin.command', 'ansible.builtin.systemd_service'].map((m) => play.tasks.indexOf(task(m)));
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    order,
    'install, then enroll, then start',
  );
  assert.match(String((task('ansible.builtin.apt')['ansible.builtin.apt'] as { deb: string }).deb), /tw_deb/);
  const enroll = task('ansible.builtin.command');
  const { argv, creates } = enroll['ansible.builtin.command'] as { argv: string[]; creates: string };
  assert.deepEqual(argv.slice(0, 2), ['tripwarden-agent', 'enroll']);
  for (const flag of ['--server', '--token', '--ca-sha256', '--config']) assert.ok(argv.includes(flag), `enroll ${flag}`);
  assert.match(argv[argv.indexOf('--token') + 1] ?? '', /tw_tokens\[ansible_play_hosts_all\.index\(inventory_hostname\)\]/, 'a token per host');
  assert.equal(creates, '/var/lib/tripwarden-agent/agent.crt', 'enrolls once: the state dir of the packaged unit');
  assert.equal(enroll.no_log, true, 'tokens stay out of the output');
  assert.deepEqual(task('ansible.builtin.systemd_service')['ansible.builtin.systemd_service'], { name: 'tripwarden-agent', enabled: true, state: 'started' });
  assert.match(doc, /tripwarden token --count 25 --group web/);
});
