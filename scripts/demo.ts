/**
 * `npm run demo`: a server on the embedded SQLite default plus one local agent,
 * in a fresh directory; prints the dashboard URL and what to try. Ctrl-C stops
 * all of it (the agent says goodbye first). `-- --for 30s` stops by itself.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../shared/duration.ts';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { dir: { type: 'string' }, for: { type: 'string' } } });
const base = values.dir ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'tripwarden-demo-'));
mkdirSync(base, { recursive: true });
const dataDir = join(base, 'server');
const agentDir = join(base, 'agent');
const guarded = join(base, 'guarded');
mkdirSync(agentDir, { recursive: true, mode: 0o700 });
mkdirSync(guarded, { recursive: true });
writeFileSync(join(guarded, 'policy.txt'), 'rule: watch me\n');

const tsx = ['--import', 'tsx'];
const say = (s = '') => process.stdout.write(`${s}\n`);
function cli(which: 'server' | 'agent', args: string[]): string {
  const r = spawnSync(process.execPath, [...tsx, join(root, `${which}/main.ts`), ...args], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(r.status ?? 1);
  }
  return r.stdout;
}

const init = cli('server', ['init', '--dir', dataDir, '--listen', '127.0.0.1:7443']);
const fingerprint = /ca-sha256: (\S+)/.exec(init)![1]!;
const password = /password \(shown once\): (\S+)/.exec(init)?.[1];
// Short deadlines so the demo shows an alarm within seconds.
const cfgPath = join(dataDir, 'server.yml');
writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace(/^grace: .*$/m, 'grace: 2s'));

const children: ChildProcess[] = [];
function start(which: 'server' | 'agent', args: string[], log: string): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [...tsx, join(root, `${which}/main.ts`), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const logFile = join(base, log);
  return new Promise((resolveReady, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      writeFileSync(logFile, d, { flag: 'a' });
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (o.msg === 'serving' || o.msg === 'connected') resolveReady(o);
        } catch {
          /* not JSON */
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('exit', (code) => reject(new Error(`${which} exited with ${code}; see ${logFile}`)));
  });
}

const serving = await start('server', ['serve', '--dir', dataDir, '--listen', '127.0.0.1:0', '--dashboard', '127.0.0.1:0'], 'server.log');
const gateway = String(serving.gateway);
const dashboard = String(serving.dashboard);
const server = `wss://${gateway}`;
const agentCfg = join(agentDir, 'agent.yml');
writeFileSync(
  agentCfg,
  [
    `server: ${server}`,
    `stateDir: ${join(agentDir, 'state')}`,
    'interval: 2s',
    'jitter: 500ms',
    'defaults: false',
    'watch:',
    `  - { path: ${guarded}, recursive: true, critical: true }`,
    '',
  ].join('\n'),
  { mode: 0o600 },
);
const token = cli('server', ['token', 'demo-host', '--dir', dataDir]).trim();
cli('agent', ['enroll', '--server', server, '--token', token, '--ca-sha256', fingerprint, '--config', agentCfg]);
await start('agent', ['run', '--config', agentCfg], 'agent.log');
const agentPid = children[1]!.pid;

say('');
say('Tripwarden demo is running.');
say(`  dashboard:   ${dashboard}${password ? `   (user admin, password ${password})` : ''}`);
say(`  agents port: ${gateway}   (mutual TLS; CA sha256 ${fingerprint})`);
say(`  data:        ${base}   (logs: server.log, agent.log)`);
say('');
// bin/tripwarden runs the build `npm ci` made; by its full path, it works from any directory.
const tripwarden = join(root, 'bin', 'tripwarden');
say('Try, in another terminal:');
say(`  ${tripwarden} hosts --dir ${dataDir}`);
say(`  kill -9 ${agentPid}        # the agent dies: agent-disconnected now, agent-missing after 6 s`);
say(`  kill -STOP ${agentPid}     # the agent freezes: agent-missing at the deadline`);
say(`  ${tripwarden} alarms --dir ${dataDir} --open`);
say(`  echo tamper >> ${join(guarded, 'policy.txt')}   # a guarded file changes`);
say('Ctrl-C stops everything.');

let stopping = false;
async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('\nstopping: agent first (it says goodbye), then the server');
  for (const c of [...children].reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGCONT');
    c.kill('SIGTERM');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        c.kill('SIGKILL');
        r();
      }, 5000);
      c.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  process.exit(0);
}
process.on('SIGINT', () => void stopAll());
process.on('SIGTERM', () => void stopAll());
for (const c of children) c.removeAllListeners('exit');
if (values.for) setTimeout(() => void stopAll(), parseDuration(values.for));
