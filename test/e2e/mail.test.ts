/**
 * Alarm mail end to end: a real `serve` with `smtp:` pointing at a real SMTP
 * peer, a real agent killed, the mails parsed; the peer down across a server
 * restart, then up: every mail arrives, once.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { enrollAgent, initServer, ROOT, runAgent, startServer, type TestServer } from '../helpers/cluster.ts';
import { SmtpPeer } from '../helpers/smtp-peer.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileP = promisify(execFile);
const peer = new SmtpPeer();
let init: { dir: string; fingerprint: string };
let server: TestServer;

function configureSmtp(dir: string, port: number): void {
  const cfg = join(dir, 'server.yml');
  const smtp = `smtp:\n  host: 127.0.0.1\n  port: ${port}\n  secure: false\n  from: tripwarden@test.example\n  to: security@test.example`;
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^smtp: null$/m, smtp));
}

before(async () => {
  const port = await peer.start();
  init = initServer({ grace: '1s' });
  configureSmtp(init.dir, port);
  server = await startServer(init);
});
after(async () => {
  await server?.stop();
  await peer.stop();
});

test('test-mail sends a test message to the security address', async () => {
  // Asynchronously: the SMTP peer lives in this process and must be able to answer.
  const r = await execFileP(process.execPath, ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'test-mail', '--dir', init.dir], { cwd: ROOT, timeout: 30_000 });
  assert.match(r.stdout, /^test mail sent to security@test.example/);
  await waitFor(() => peer.received.some((m) => /tripwarden test mail/.test(m.subject ?? '')), { what: 'test mail' });
});

test('a killed agent is mailed: disconnect at once, then missing, each once, with what to do', async () => {
  const agent = enrollAgent(server, 'echo');
  const p = runAgent(agent);
  const c = server.ctx();
  await waitFor(async () => (await c.hosts.views(Date.now())).find((h) => h.host === 'echo')?.status === 'up', { what: 'echo up' });
  p.signal('SIGKILL');
  const mail = (kind: string) => peer.received.filter((m) => (m.subject ?? '').startsWith(`[critical] echo ${kind}:`) || (m.subject ?? '').startsWith(`[warning] echo ${kind}:`));
  await waitFor(() => mail('agent-missing').length === 1, { timeoutMs: 10_000, what: 'agent-missing mail' });
  assert.equal(mail('agent-disconnected').length, 1);
  const m = mail('agent-missing')[0]!;
  const id = (await c.alarms.list({ host: 'echo', open: true })).find((a) => a.kind === 'agent-missing')!.id;
  await c.close();
  assert.match(m.text!, /from: (up|late)\n\s+to: missing/);
  assert.ok(m.text!.includes(`ack ${id} --dir ${init.dir}`));
  assert.equal(m.headers.get('x-tripwarden-alarm'), String(id));
});

test('with the SMTP peer down across a server restart, the mail waits in the outbox and arrives once', async () => {
  const port = peer.port;
  await peer.stop();
  const before = peer.received.length;
  const c = server.ctx();
  c.db!.prepare(`INSERT INTO hosts (host, grp, enrolled_at) VALUES ('foxtrot', 'db', ?)`).run(Date.now());
  await c.alarms.open('foxtrot', 'file-changed', '/etc/crontab changed', Date.now(), { path: '/etc/crontab', old: 'sha256:1', new: 'sha256:2' });
  // The worker tries (and fails) at least once before the restart.
  await waitFor(
    () =>
      (
        c.db!.prepare(`SELECT attempts FROM deliveries d JOIN alarm_events e ON e.id = d.event_id JOIN alarms a ON a.id = e.alarm_id WHERE a.host = 'foxtrot'`).get() as
          | { attempts: number }
          | undefined
      )?.attempts,
    { timeoutMs: 5000, what: 'a failed attempt' },
  );
  await c.close();
  await server.stop();
  await peer.start(port);
  server = await startServer(init);
  await waitFor(() => peer.received.some((m) => (m.subject ?? '').startsWith('[critical] foxtrot file-changed:')), { timeoutMs: 10_000, what: 'the queued mail' });
  await new Promise((r) => setTimeout(r, 1500)); // a few more worker periods: nothing more may come
  const got = peer.received.slice(before).filter((m) => (m.subject ?? '').includes('foxtrot'));
  assert.equal(got.length, 1, 'arrives once');
  assert.match(got[0]!.text!, /old: sha256:1\n\s+new: sha256:2/);
});
