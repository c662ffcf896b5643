import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig, serverUrls } from '../../agent/config.ts';
import { tempDir } from '../helpers/temp.ts';

const write = (text: string) => {
  const p = join(tempDir(), 'agent.yml');
  writeFileSync(p, text);
  return p;
};

test('the docs/REFERENCE.md example config is accepted, with durations in ms, and frozen', () => {
  const c = loadAgentConfig(
    write(`server: wss://secure-host:7443
stateDir: /var/lib/tripwarden-agent
interval: 10s
jitter: 2s
fullScanEvery: 10m
defaults: true
watch:
  - { path: /opt/tw/bin, recursive: true, critical: true }
daemons:
  - { name: cron, exe: /usr/sbin/cron }
mounts:
  - { path: /mnt/twdb, expect: ro }
fallback: [/dev/kmsg, /dev/ttyS0]
processTitle: kworker/u8:2
`),
  );
  assert.equal(c.interval, 10_000);
  assert.equal(c.fullScanEvery, 600_000);
  assert.deepEqual(c.watch[0], { path: '/opt/tw/bin', recursive: true, critical: true });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.watch[0]));
});

test('defaults fill what is left out', () => {
  const c = loadAgentConfig(write('server: wss://h:7443\n'));
  assert.equal(c.stateDir, '/var/lib/tripwarden-agent');
  assert.equal(c.interval, 10_000);
  assert.equal(c.jitter, 2_000);
  assert.equal(c.defaults, true);
  assert.equal(c.portSettle, 30_000);
  assert.equal(loadAgentConfig(write('server: wss://h:7443\nportSettle: 0s\n')).portSettle, 0, '0s: report new listeners at once');
});

test('checkers: one of each kind, each with its config path; none by default', () => {
  const c = loadAgentConfig(write('server: wss://h:7443\ncheckers:\n  - { kind: aide, config: /etc/aide/aide.conf }\n  - { kind: tripwire, config: /etc/tripwire/tw.cfg }\n'));
  assert.deepEqual(c.checkers, [
    { kind: 'aide', config: '/etc/aide/aide.conf' },
    { kind: 'tripwire', config: '/etc/tripwire/tw.cfg' },
  ]);
  assert.deepEqual(loadAgentConfig(write('server: wss://h:7443\n')).checkers, []);
});

test('every kind of mistake names its key', () => {
  const cases: [string, RegExp][] = [
    ['server: wss://h:7443\nfoo: 1\n', /unknown key "foo"/],
    ['server: http://h\n', /key "server": must be wss:\/\/HOST:PORT/],
    ['stateDir: /x\n', /missing key "server"/],
    ['server: wss://h:1\ninterval: 10\n', /key "interval": must be a duration/],
    ['server: wss://h:1\njitter: 20s\n', /key "jitter": jitter must be shorter than interval/],
    ['server: wss://h:1\nmounts: [{ path: /m, expect: rw }]\n', /key "mounts\.0\.expect"/],
    ['server: wss://h:1\nstateDir: relative\n', /key "stateDir": must be an absolute path/],
    ['server: [unclosed\n', /not valid YAML/],
    ['server: wss://h:1\nportSettle: 2h\n', /key "portSettle": "2h" is longer than/],
    ['server: wss://h:1\ncheckers: [{ kind: ossec, config: /etc/x }]\n', /key "checkers\.0\.kind"/],
    ['server: wss://h:1\ncheckers: [{ kind: aide, config: aide.conf }]\n', /key "checkers\.0\.config": must be an absolute path/],
    ['server: wss://h:1\ncheckers: [{ kind: aide, config: /etc/../tmp/a.conf }]\n', /key "checkers\.0\.config": must be a plain absolute path/],
    ['server: wss://h:1\ncheckers: [{ kind: aide, config: /a }, { kind: aide, config: /b }]\n', /key "checkers": names a kind twice/],
    ['server: wss://h:1\ncheckers: [{ kind: aide, config: /a, args: [-x] }]\n', /unknown key "checkers\.0\.args"/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => loadAgentConfig(write(text)),
      (e: Error & { code: string }) => {
        assert.match(e.message, re);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      },
    );
  }
});

test('server is one URL or a list in order of preference; failback defaults to 10m and takes 0s', () => {
  const one = loadAgentConfig(write('server: wss://tw1:7443\n'));
  assert.deepEqual(serverUrls(one), ['wss://tw1:7443']);
  assert.equal(one.failback, 600_000);
  const two = loadAgentConfig(write('server: [wss://tw1:7443, wss://tw2:7443]\nfailback: 0s\n'));
  assert.deepEqual(serverUrls(two), ['wss://tw1:7443', 'wss://tw2:7443']);
  assert.equal(two.failback, 0);
  assert.throws(() => loadAgentConfig(write('server: []\n')), /key "server"/);
  assert.throws(() => loadAgentConfig(write('server: [wss://tw1:7443, http://tw2]\n')), /key "server\.1": must be wss:\/\/HOST:PORT/);
});
