import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { agentCommand, enrollAgent, ROOT, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Runs every `sh tested` block of docs/OPERATIONS.md, in order, against a real
 * server (its CLI from the built JavaScript, as `tripwarden`) and a real agent
 * (`tripwarden-agent`), with stand-ins that record calls for systemctl and
 * apt-get. Between blocks the test does what the prose says happens there
 * (a file changes, the server stops and starts) and checks each block's effect.
 */
const doc = readFileSync(join(ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
const blocks = [...doc.matchAll(/^```sh tested\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
const smtpYaml = /^```yaml smtp\n([\s\S]*?)^```$/m.exec(doc)?.[1];

const peer = new SmtpPeer({ allowInsecureAuth: true, onAuth: (auth, _s, cb) => cb(null, { user: auth.username }) });
let server: TestServer | undefined;
after(async () => {
  await server?.stop();
  await peer.stop();
});

function standIns(dir: string, tree: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const agent = agentCommand();
  const script = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  script('tripwarden', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(tree, 'bin', 'tripwarden'))} "$@"`);
  script('tripwarden-agent', `exec ${[agent.cmd, ...agent.args].map((a) => JSON.stringify(a)).join(' ')} "$@"`);
  for (const name of ['systemctl', 'apt-get']) script(name, `echo "${name} $*" >>${JSON.stringify(join(dir, 'calls'))}`);
  return bin;
}

test('every tested command in docs/OPERATIONS.md works, in order, against a real server and agent', async () => {
  assert.equal(blocks.length, 12, 'the test below walks twelve blocks; a new one needs its step here');
  assert.ok(smtpYaml, 'docs/OPERATIONS.md has its ```yaml smtp block');
  const dir = tempDir('tw-ops-');

  // The built CLI, laid out as installed.
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'bin'), { recursive: true });
  copyFileSync(join(ROOT, 'bin', 'tripwarden'), join(tree, 'bin', 'tripwarden'));
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-server.mjs'), '--out', join(tree, 'dist', 'server')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(built.status, 0, built.stderr);
  const bin = standIns(dir, tree);

  const D = join(dir, 'data');
  const watched = join(dir, 'watched');
  mkdirSync(watched);
  writeFileSync(join(watched, 'tool'), 'v1\n');
  const pw = join(dir, 'admin.pw');
  writeFileSync(pw, 'correct horse battery\n');
  const init = spawnSync(join(bin, 'tripwarden'), ['init', '--dir', D, '--listen', '127.0.0.1:7443', '--admin-password-file', pw], { encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  const FP = /ca-sha256: (\S+)/.exec(init.stdout)?.[1] ?? '';

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    D,
    HOST: 'web1',
    GROUP: 'web',
    FP,
    BACKUP: join(dir, 'backup'),
    SMTP_PASSWORD: 's3cret-pw',
    UPGRADED: watched,
  };
  // Async: the SMTP peer and the server's waits live in this process's event loop.
  const runBlock = async (i: number): Promise<string> => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', blocks[i] ?? ''], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
    });
    child.stderr.on('data', (b) => {
      out += b;
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    assert.equal(code, 0, `block ${i}:\n${blocks[i]}\n${out}`);
    return out;
  };

  // Mail: the password file first, then the doc's smtp block, pointed at a local peer.
  await runBlock(0);
  assert.equal(readFileSync(join(D, 'smtp.password'), 'utf8'), 's3cret-pw\n');
  await peer.start();
  const yaml = (smtpYaml ?? '')
    .replace(/host: .*/, 'host: 127.0.0.1')
    .replace(/port: .*/, `port: ${peer.port}`)
    .replace(/passwordFile: .*/, `passwordFile: ${join(D, 'smtp.password')}`);
  const cfgPath = join(D, 'server.yml');
  const cfg = readFileSync(cfgPath, 'utf8');
  assert.match(cfg, /^smtp: null$/m);
  writeFileSync(cfgPath, cfg.replace(/^smtp: null$/m, yaml.trimEnd()));

  server = await startServer({ dir: D, fingerprint: FP });
  const agent = enrollAgent(server, 'web1', { extra: `watch:\n  - { path: ${watched}, recursive: true, critical: true }\n` });
  let agentProc = runAgent(agent);
  const cli = (...a: string[]) => spawnSync(join(bin, 'tripwarden'), [...a, '--dir', D], { encoding: 'utf8' });
  const openAlarms = () => JSON.parse(cli('alarms', '--open', '--json').stdout) as Array<{ id: number; kind: string; host: string }>;
  const hostUp = () => (JSON.parse(cli('hosts', '--json').stdout) as Array<{ host: string; status: string }>).some((h) => h.host === 'web1' && h.status === 'up');
  await waitFor(hostUp, { timeoutMs: 60_000, what: 'web1 up' });

  env.CONFIG = agent.config;
  env.SERVER = server.url;

  // A test message through the doc's smtp block.
  await runBlock(1);
  await waitFor(() => peer.received.length >= 1, { what: 'the test mail' });

  // The webhook's secret: 32 random bytes in hex, for the server alone.
  await runBlock(2);
  assert.match(readFileSync(join(D, 'webhook.secret'), 'utf8'), /^[0-9a-f]{64}\n$/);
  assert.equal(statSync(join(D, 'webhook.secret')).mode & 0o777, 0o600);

  // Alarms: a guarded file changes; list, ack, maintenance on and off.
  writeFileSync(join(watched, 'tool'), 'v2\n');
  const alarm = await waitFor(() => openAlarms().find((a) => a.kind === 'file-changed'), { timeoutMs: 60_000, what: 'file-changed' });
  env.ALARM = String(alarm.id);
  assert.match(await runBlock(3), /file-changed/);

  // The upgrade across a group: group and sample, then fleet and accept resolve the alarm.
  await runBlock(4);
  await runBlock(5);
  assert.equal(
    openAlarms().some((a) => a.id === alarm.id),
    false,
    'accept --group resolved the file alarm',
  );

  // Backup while serving; restore with the server stopped.
  await runBlock(6);
  for (const f of ['tripwarden.db', 'ca.key', 'server.yml', 'smtp.password']) assert.ok(existsSync(join(dir, 'backup', f)), `backup has ${f}`);
  await server.stop();
  const restored = await runBlock(7);
  assert.match(restored, /^ok$/m, 'integrity_check');
  assert.match(restored, /web1/);
  // The restarted server listens on a new ephemeral port: point the agent at it.
  agentProc.signal('SIGTERM');
  await agentProc.exited;
  server = await startServer({ dir: D, fingerprint: FP });
  env.SERVER = server.url;
  writeFileSync(agent.config, readFileSync(agent.config, 'utf8').replace(/^server: .*$/m, `server: ${server.url}`));
  agentProc = runAgent(agent);
  await waitFor(hostUp, { timeoutMs: 60_000, what: 'web1 back after the restore' });

  // A new certificate for the host, and the agent restarted on it.
  const oldCert = readFileSync(join(agent.stateDir, 'agent.crt'), 'utf8');
  await runBlock(8);
  assert.notEqual(readFileSync(join(agent.stateDir, 'agent.crt'), 'utf8'), oldCert);
  agentProc.signal('SIGTERM');
  await agentProc.exited;
  agentProc = runAgent(agent);
  await waitFor(hostUp, { timeoutMs: 60_000, what: 'web1 up on its new certificate' });

  // A new server certificate from the same CA, with one more name; the agent keeps its pin.
  const oldServerCert = readFileSync(join(D, 'server.crt'), 'utf8');
  await runBlock(9);
  const newServerCert = readFileSync(join(D, 'server.crt'), 'utf8');
  assert.notEqual(newServerCert, oldServerCert);
  assert.match(new X509Certificate(newServerCert).subjectAltName ?? '', /DNS:tw2\.example\.net/);

  // Upgrading: the package (stand-in), then accept the host.
  await runBlock(10);
  writeFileSync(join(watched, 'tool'), 'v3\n');
  await waitFor(() => openAlarms().find((a) => a.kind === 'file-changed'), { timeoutMs: 60_000, what: 'the next file-changed' });
  await runBlock(11);
  assert.deepEqual(
    openAlarms().filter((a) => a.host === 'web1' && a.kind.startsWith('file-')),
    [],
  );
  agentProc.signal('SIGTERM');
  await agentProc.exited;

  assert.deepEqual(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n'), [
    'systemctl restart tripwarden-server',
    'systemctl stop tripwarden-server',
    'systemctl start tripwarden-server',
    'systemctl restart tripwarden-agent',
    'systemctl restart tripwarden-server',
    'apt-get install ./tripwarden-server_VERSION_amd64.deb',
  ]);
});
