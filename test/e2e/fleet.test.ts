/**
 * Sample hosts end to end, with three real agents in one group. Each agent
 * runs in its own mount namespace where the guarded path is bind-mounted
 * from that host's own directory, so the same path holds different content
 * per "host" on one machine. The sample's upgrade is accepted first; the same
 * upgrade on the two others then folds into one expected line; a different
 * binary on one host is one critical alarm naming it the outlier.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentCommand, enrollAgent, initServer, openAlarms, Proc, ROOT, serverCli, startServer, type TestAgent, type TestServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

const HOSTS = ['sample1', 'web2', 'web3'] as const;
let server: TestServer;
let root: string;
let target: string; // the guarded path every host watches: /…/target/cron
const own = new Map<string, string>(); // host -> its own directory behind the target
const agents = new Map<string, Proc>();

// Mount namespaces need root (CAP_SYS_ADMIN) and util-linux unshare.
const probe = spawnSync('unshare', ['-m', 'true'], { encoding: 'utf8' });
const skip = probe.status === 0 ? '' : `cannot make a mount namespace here (${(probe.stderr || probe.error?.message || 'unshare failed').trim()})`;

/** `agent run` inside a private mount namespace with the host's directory bound over the target. */
function runAgentAt(a: TestAgent, dir: string): Proc {
  const cmd = agentCommand();
  const sh = 'mount --bind "$1" "$2" && shift 2 && exec "$@"';
  return new Proc(spawn('unshare', ['-m', 'sh', '-c', sh, 'sh', dir, target, cmd.cmd, ...cmd.args, 'run', '--config', a.config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

const cron = (host: string) => join(own.get(host)!, 'cron');
/** Installs new content the way a package manager does: a new file renamed over the old one. */
function install(host: string, content: string): void {
  const tmp = join(own.get(host)!, 'cron.dpkg-new');
  writeFileSync(tmp, content, { mode: 0o755 });
  renameSync(tmp, cron(host));
}
const fileAlarms = async (host: string) => (await openAlarms(server, host)).filter((a) => a.kind === 'file-changed');

before(async () => {
  if (skip) return;
  root = tempDir('tw-fleet-');
  target = join(root, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'cron'), 'placeholder: never seen by an agent\n');
  server = await startServer(initServer());
  for (const h of HOSTS) {
    const d = join(root, h);
    mkdirSync(d);
    own.set(h, d);
    writeFileSync(join(d, 'cron'), 'cron 3.0pl1-162\n', { mode: 0o755 });
    const a = enrollAgent(server, h, { extra: `fullScanEvery: 1h\nwatch:\n  - { path: ${join(target, 'cron')}, critical: true }\n` });
    const r = serverCli(['group', h, 'web', '--dir', server.dir]);
    assert.equal(r.code, 0, r.stderr);
    agents.set(h, runAgentAt(a, d));
  }
  assert.equal(serverCli(['sample', 'sample1', 'on', '--dir', server.dir]).code, 0);
  await waitFor(
    () => {
      const c = server.ctx();
      try {
        return (c.db!.prepare(`SELECT COUNT(*) FROM baseline_hosts`).pluck().get() as number) === HOSTS.length;
      } finally {
        void c.close();
      }
    },
    { timeoutMs: 30_000, what: 'three baselines' },
  );
});

after(async () => {
  for (const p of agents.values()) {
    p.signal('SIGTERM');
    await p.exited;
  }
  await server?.stop();
});

test('three hosts, one a sample: one upgrade folds into one expected line; another binary on one host is a critical outlier', { skip: skip || false }, async () => {
  const fleet = (): { paths: { path: string; groups: { variants: { hosts: string[] }[]; outliers: string[] }[] }[] } =>
    JSON.parse(serverCli(['fleet', '--dir', server.dir, '--group', 'web', '--json']).stdout);
  const path = join(target, 'cron');

  // The upgrade on the sample first: critical there until an operator accepts it.
  install('sample1', 'cron 3.0pl1-163 (security update)\n');
  await waitFor(async () => (await fileAlarms('sample1')).length === 1, { what: "the sample's change" });
  assert.equal((await fileAlarms('sample1'))[0]!.severity, 'critical');
  let r = serverCli(['accept', 'sample1', path, '--dir', server.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await fileAlarms('sample1'), []);

  // The same upgrade on the two others: expected warnings, not critical alarms.
  for (const h of ['web2', 'web3']) install(h, 'cron 3.0pl1-163 (security update)\n');
  await waitFor(async () => (await fileAlarms('web2')).length === 1 && (await fileAlarms('web3')).length === 1, { what: 'the two changes' });
  for (const h of ['web2', 'web3']) {
    const a = (await fileAlarms(h))[0]!;
    assert.equal(a.severity, 'warning', `${h}: expected, not critical`);
    assert.equal((a.detail as { expected: { sample: string } }).expected.sample, 'sample1');
  }
  r = serverCli(['report', '--dir', server.dir, '--since', '1h']);
  assert.equal(r.code, 0, r.stderr);
  const folds = r.stdout.split('\n').filter((l) => l.includes('took the content of sample'));
  assert.equal(folds.length, 1, r.stdout);
  assert.match(folds[0]!, /: 2 host\(s\) took the content of sample sample1 \(file-changed, 2 open\): web2, web3$/);
  assert.match(r.stdout, /Critical changes \(0\):\n {2}none/);
  assert.deepEqual(fleet().paths, [], 'the whole group agrees again');

  // A different binary on web3: one critical alarm, web3 named the outlier.
  install('web3', 'cron with a backdoor\n');
  await waitFor(async () => (await fileAlarms('web3'))[0]?.severity === 'critical', { what: 'the outlier' });
  const crit = (await openAlarms(server, 'web3')).filter((a) => a.severity === 'critical');
  assert.equal(crit.length, 1);
  assert.equal((crit[0]!.detail as { fleet: { outlier: boolean } }).fleet.outlier, true);
  assert.equal((await openAlarms(server, 'web2')).filter((a) => a.severity === 'critical').length, 0);
  r = serverCli(['report', '--dir', server.dir, '--since', '1h']);
  assert.match(r.stdout, /Critical changes \(1\):\n {2}web3 \(web\)[^\n]*\n {4}#\d+ \[critical\] file-changed: \S+cron \(OUTLIER: no other host of web has this content;/);
  const p = fleet().paths.find((x) => x.path === path)!;
  assert.deepEqual(p.groups[0]!.outliers, ['web3']);
});
