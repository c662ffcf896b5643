/**
 * The three ways an agent goes quiet, with real processes: killed (-9),
 * frozen (SIGSTOP) and stopped cleanly (SIGTERM). Interval 1 s, grace 1 s,
 * so the deadline is 3 s after the last heartbeat.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { enrollAgent, hostStatus, initServer, openAlarms, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
});
after(() => server.stop());

const kinds = async (host: string) => (await openAlarms(server, host)).map((a) => a.kind).sort();

test('an enrolled agent is up, and hosts --json says so with the contract fields', async () => {
  const a = enrollAgent(server, 'alpha');
  assert.equal(await hostStatus(server, 'alpha'), 'pending');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'alpha')) === 'up', { what: 'alpha up' });
  const r = serverCli(['hosts', '--dir', server.dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const row = (JSON.parse(r.stdout) as Record<string, unknown>[]).find((h) => h.host === 'alpha')!;
  assert.equal(row.status, 'up');
  assert.equal(row.group, 'default');
  assert.equal(row.openAlarms, 0);
  assert.match(String(row.lastSeen), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  p.signal('SIGKILL');
  await p.exited;
});

test('kill -9: agent-disconnected at once, agent-missing after the deadline, resolved when it returns', async () => {
  const a = enrollAgent(server, 'bravo');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'bravo')) === 'up', { what: 'bravo up' });
  p.signal('SIGKILL');
  const killedAt = Date.now();
  await waitFor(async () => (await kinds('bravo')).includes('agent-disconnected'), { timeoutMs: 2000, what: 'agent-disconnected' });
  assert.ok(Date.now() - killedAt < 1500, 'disconnect is raised at once, not at the deadline');
  assert.notEqual(await hostStatus(server, 'bravo'), 'missing', 'not missing before the deadline');
  await waitFor(async () => (await hostStatus(server, 'bravo')) === 'missing', { timeoutMs: 6000, what: 'bravo missing' });
  // the status is derived at read time; the sweep writes the alarm within its tick
  await waitFor(async () => (await kinds('bravo')).includes('agent-missing'), { timeoutMs: 1000, what: 'agent-missing alarm' });
  assert.deepEqual(await kinds('bravo'), ['agent-disconnected', 'agent-missing']);
  const missing = (await openAlarms(server, 'bravo')).find((a) => a.kind === 'agent-missing')!;
  assert.equal(missing.severity, 'critical');
  const again = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'bravo')) === 'up', { what: 'bravo up again' });
  await waitFor(async () => (await kinds('bravo')).length === 0, { timeoutMs: 2000, what: 'alarms resolved' });
  again.signal('SIGKILL');
});

test('SIGSTOP: agent-missing at the deadline while the connection stays open; SIGCONT resolves it', async () => {
  const a = enrollAgent(server, 'charlie');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'charlie')) === 'up', { what: 'charlie up' });
  p.signal('SIGSTOP');
  await waitFor(async () => (await kinds('charlie')).includes('agent-missing'), { timeoutMs: 6000, what: 'charlie agent-missing' });
  assert.equal(await hostStatus(server, 'charlie'), 'missing');
  assert.deepEqual(await kinds('charlie'), ['agent-missing'], 'a frozen agent is not a disconnect');
  const c = server.ctx();
  assert.equal((await c.hosts.get('charlie'))!.connected, true, 'the TCP connection is still open');
  await c.close();
  p.signal('SIGCONT');
  await waitFor(async () => (await hostStatus(server, 'charlie')) === 'up', { what: 'charlie up after SIGCONT' });
  await waitFor(async () => (await kinds('charlie')).length === 0, { timeoutMs: 2000, what: 'agent-missing resolved' });
  p.signal('SIGKILL');
});

test('SIGTERM: the agent says goodbye, the host is stopped with agent-stopped and no disconnect alarm', async () => {
  const a = enrollAgent(server, 'delta');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'delta')) === 'up', { what: 'delta up' });
  p.signal('SIGTERM');
  assert.equal(await p.exited, 0, 'a clean stop exits 0');
  await waitFor(async () => (await hostStatus(server, 'delta')) === 'stopped', { timeoutMs: 2000, what: 'delta stopped' });
  assert.deepEqual(await kinds('delta'), ['agent-stopped']);
  // and the deadline does not add agent-missing to a stopped host
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(await hostStatus(server, 'delta'), 'stopped');
  assert.deepEqual(await kinds('delta'), ['agent-stopped']);
});

test('maintenance silences a host: killing its agent opens no agent-missing until the window ends', async () => {
  const a = enrollAgent(server, 'echo');
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'echo')) === 'up', { what: 'echo up' });
  const m = serverCli(['maintenance', 'echo', '--for', '1h', '--dir', server.dir]);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(await hostStatus(server, 'echo'), 'maintenance');
  p.signal('SIGKILL');
  await new Promise((r) => setTimeout(r, 3500));
  assert.deepEqual(await kinds('echo'), [], 'no alarm during maintenance');
  assert.equal(serverCli(['maintenance', 'echo', '--for', '0s', '--dir', server.dir]).code, 0);
  await waitFor(async () => (await kinds('echo')).includes('agent-missing'), { timeoutMs: 2000, what: 'missing once maintenance ends' });
  assert.deepEqual(await kinds('echo'), ['agent-missing']);
});

test('kill -9 and an instant restart (systemd Restart=always): the new hello resolves agent-disconnected', async () => {
  // A 10 s interval: the restart comes well inside the deadline, so the host never leaves up and only the hello
  // can resolve the alarm.
  const a = enrollAgent(server, 'foxtrot', { interval: '10s' });
  const p = runAgent(a);
  await waitFor(async () => (await hostStatus(server, 'foxtrot')) === 'up', { what: 'foxtrot up' });
  const c = server.ctx();
  const upSince = (await c.hosts.get('foxtrot'))!.statusChangedAt;
  await c.close();
  p.signal('SIGKILL');
  await p.exited;
  await waitFor(async () => (await kinds('foxtrot')).includes('agent-disconnected'), { timeoutMs: 2000, what: 'agent-disconnected' });
  const again = runAgent(a);
  await waitFor(async () => (await kinds('foxtrot')).length === 0, { timeoutMs: 9000, what: 'agent-disconnected resolved by the hello' });
  const d = server.ctx();
  assert.equal((await d.hosts.get('foxtrot'))!.statusChangedAt, upSince, 'the host stayed up throughout');
  await d.close();
  again.signal('SIGKILL');
  await again.exited;
});
