/**
 * Bad input from every side gets one clear error, the server stays up, and
 * other agents keep their status.
 */

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SHARED_ERRORS } from '../../shared/errors.ts';
import { metricsToken, scrape } from '../faults/fault-kit.ts';
import { agentCli, enrollAgent, hostStatus, initServer, openAlarms, type Proc, runAgent, serverCli, startServer, type TestServer } from '../helpers/cluster.ts';
import { identityOf, rawConnect } from '../helpers/raw-client.ts';
import { tempDir } from '../helpers/temp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let server: TestServer;
let bystander: Proc;
before(async () => {
  server = await startServer(initServer({ grace: '1s' }));
  bystander = runAgent(enrollAgent(server, 'bystander'));
  await waitFor(async () => (await hostStatus(server, 'bystander')) === 'up', { what: 'bystander up' });
});
after(async () => {
  bystander.signal('SIGKILL');
  await server.stop();
});

function enrollWith(token: string) {
  const dir = tempDir();
  const config = join(dir, 'agent.yml');
  writeFileSync(config, `server: ${server.url}\nstateDir: ${join(dir, 'state')}\n`);
  return agentCli(['enroll', '--server', server.url, '--token', token, '--ca-sha256', server.fingerprint, '--config', config]);
}

test('a reused token is refused with a clear message', () => {
  const tok = serverCli(['token', 'juliet', '--dir', server.dir]).stdout.trim();
  assert.equal(enrollWith(tok).code, 0);
  const again = enrollWith(tok);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^tripwarden-agent: error TW_ENROLL_REFUSED: enrollment refused: enrollment token already used/);
});

test('an expired token is refused', async () => {
  const tok = serverCli(['token', 'kilo', '--ttl', '1ms', '--dir', server.dir]).stdout.trim();
  await sleep(5);
  const r = enrollWith(tok);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /enrollment token expired/);
});

test('an unknown token and a wrong CA fingerprint are refused', () => {
  assert.match(enrollWith('twt_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB').stderr, /token not recognised/);
  const dir = tempDir();
  const config = join(dir, 'agent.yml');
  // enroll no longer writes a missing config (TW_CONFIG_MISSING): the pin is what is tested here
  writeFileSync(config, `server: ${server.url}\nstateDir: ${join(dir, 'state')}\n`);
  const tok = serverCli(['token', 'lima', '--dir', server.dir]).stdout.trim();
  const r = agentCli(['enroll', '--server', server.url, '--token', tok, '--ca-sha256', 'AA:BB', '--config', config]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /TW_ENROLL_PIN.*not the pinned --ca-sha256/);
  assert.equal(enrollWith(tok).code, 0, 'the token was not spent by the refused attempt');
});

test('a config with an unknown key or a bad duration: exit 2, one line naming the key', () => {
  const dir = tempDir();
  const bad = join(dir, 'bad.yml');
  writeFileSync(bad, `server: ${server.url}\nstateDir: ${dir}\nintervall: 10s\n`);
  let r = agentCli(['run', '--config', bad]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `tripwarden-agent: error TW_CONFIG_INVALID: config ${bad}: unknown key "intervall"; ${SHARED_ERRORS.TW_CONFIG_INVALID.todo}`);
  writeFileSync(bad, `server: ${server.url}\nstateDir: ${dir}\ninterval: 10x\n`);
  r = agentCli(['run', '--config', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /key "interval": bad duration "10x"/);
  writeFileSync(bad, `server: ${server.url}\nstateDir: ${dir}\nwatch:\n  - { path: /etc, recurse: true }\n`);
  assert.match(agentCli(['run', '--config', bad]).stderr, /unknown key "watch\.0\.recurse"/);
});

test('bad CLI arguments: exit 2 with one line naming the flag', () => {
  const r = serverCli(['hosts', '--dir', server.dir, '--jsn']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--jsn'/);
  assert.equal(serverCli(['nope']).code, 2);
  assert.match(serverCli(['ack', 'x', '--dir', server.dir]).stderr, /"x" is not an alarm id/);
});

test('malformed, schema-invalid and oversized frames each close the connection; the server and other agents carry on', async () => {
  const a = enrollAgent(server, 'mike');
  const id = identityOf(a.stateDir);
  const hello = {
    type: 'hello',
    bootId: '11111111-2222-4333-8444-555555555555',
    seq: 0,
    sentAt: Date.now(),
    protocol: 1,
    agentVersion: 't',
    interval: 1000,
    facts: { hostname: 'x', os: 'Linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 },
  };
  const notJson = await rawConnect(server.port, { ...id, send: ['{not json'] });
  assert.equal(notJson.closeCode, 4000);
  assert.equal(notJson.closeReason, 'frame is not JSON');

  const invalid = await rawConnect(server.port, { ...id, send: [JSON.stringify({ ...hello, seq: -1 })] });
  assert.equal(invalid.closeCode, 4000);
  assert.match(invalid.closeReason!, /^seq: /);

  const unknownType = await rawConnect(server.port, { ...id, send: [JSON.stringify({ type: 'shell', cmd: 'rm -rf /' })] });
  assert.equal(unknownType.closeCode, 4000);

  const beforeHello = await rawConnect(server.port, { ...id, send: [JSON.stringify({ type: 'heartbeat', bootId: hello.bootId, seq: 1, sentAt: 1 })] });
  assert.equal(beforeHello.closeCode, 4000);
  assert.equal(beforeHello.closeReason, 'heartbeat before hello');

  const huge = await rawConnect(server.port, { ...id, send: [Buffer.alloc(200 * 1024, 'a').toString()] });
  assert.equal(huge.closeCode, 1009, 'ws closes an oversized frame with 1009');

  const secondHello = await rawConnect(server.port, { ...id, send: [JSON.stringify(hello), JSON.stringify({ ...hello, seq: 1 })] });
  assert.equal(secondHello.closeCode, 4000);
  assert.equal(secondHello.closeReason, 'second hello on one connection');

  const otherBoot = '11111111-2222-4333-8444-666666666666';
  const bootChanged = await rawConnect(server.port, {
    ...id,
    send: [JSON.stringify({ ...hello, seq: 2 }), JSON.stringify({ type: 'heartbeat', bootId: otherBoot, seq: 3, sentAt: 1 })],
  });
  assert.equal(bootChanged.closeCode, 4000);
  assert.equal(bootChanged.closeReason, 'boot id changed within a connection');

  const alarms = (await openAlarms(server, 'mike')).filter((x) => x.kind === 'protocol-violation');
  assert.ok(alarms.length >= 3, 'each violation is recorded as a protocol-violation alarm');
  // Each violation is counted under the reason named where it was found.
  const m = await scrape(server.dashboardPort, metricsToken(server.dir));
  const violations = (reason: string) => m.get(`tripwarden_protocol_violations_total{reason="${reason}"}`) ?? 0;
  assert.equal(violations('not-json'), 1);
  assert.equal(violations('schema'), 2, 'a bad field and an unknown type');
  assert.equal(violations('before-hello'), 1);
  assert.equal(violations('second-hello'), 1);
  assert.equal(violations('boot-id-changed'), 1);
  assert.equal(m.get('tripwarden_connections_dropped_total{reason="frame-too-large"}'), 1);
  // the server is still up and serving, and the bystander never wavered
  const ok = await rawConnect(server.port, { ...id, send: [JSON.stringify({ ...hello, seq: 4 })], waitMs: 1500 });
  assert.equal((ok.frames[0] as { type: string }).type, 'welcome');
  assert.equal(await hostStatus(server, 'bystander'), 'up');
  assert.deepEqual(await openAlarms(server, 'bystander'), []);
});

test('a replayed sequence number on the same boot opens a replay alarm and closes', async () => {
  const a = enrollAgent(server, 'november');
  const id = identityOf(a.stateDir);
  const bootId = '21111111-2222-4333-8444-555555555555';
  const frame = (type: string, seq: number) =>
    JSON.stringify(
      type === 'hello'
        ? {
            type,
            bootId,
            seq,
            sentAt: Date.now(),
            protocol: 1,
            agentVersion: 't',
            interval: 1000,
            facts: { hostname: 'x', os: 'L', release: '6', arch: 'x64', runtime: 'n', uptimeSec: 1 },
          }
        : { type, bootId, seq, sentAt: Date.now() },
    );
  const r = await rawConnect(server.port, { ...id, send: [frame('hello', 0), frame('heartbeat', 1), frame('heartbeat', 1)] });
  assert.equal(r.closeCode, 4001);
  assert.deepEqual(
    (await openAlarms(server, 'november')).map((x) => x.kind),
    ['replay'],
  );
});
