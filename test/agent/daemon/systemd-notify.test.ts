import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { createSystemdNotifier, type NotifyChild, type NotifyClock, watchdogIntervalFromEnv } from '../../../agent/daemon/systemd-notify.ts';

class FakeChild extends EventEmitter implements NotifyChild {
  killedWith: string | undefined;
  constructor(readonly args: readonly string[]) {
    super();
  }
  kill(signal?: NodeJS.Signals): boolean {
    this.killedWith = signal;
    return true;
  }
  exit(code: number): void {
    this.emit('exit', code, null);
  }
}

function fakeSpawn(): { calls: FakeChild[]; spawn: (cmd: string, args: readonly string[]) => FakeChild } {
  const calls: FakeChild[] = [];
  return {
    calls,
    spawn(cmd, args) {
      assert.equal(cmd, 'systemd-notify');
      const child = new FakeChild(args);
      calls.push(child);
      return child;
    },
  };
}

function fakeClock(): NotifyClock & { fire(): void; pending(): number } {
  const timers = new Map<number, () => void>();
  let next = 1;
  return {
    setTimeout(fn) {
      timers.set(next, fn);
      return next++;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    fire() {
      const fns = [...timers.values()];
      timers.clear();
      for (const fn of fns) fn();
    },
    pending: () => timers.size,
  };
}

const systemdEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' };

test('without NOTIFY_SOCKET nothing is spawned and there is no watchdog interval', () => {
  const { calls, spawn } = fakeSpawn();
  const n = createSystemdNotifier({ env: {}, spawn, clock: fakeClock(), pid: 4242 });
  n.ready();
  n.watchdog();
  assert.equal(n.enabled, false);
  assert.equal(calls.length, 0);
  assert.equal(n.watchdogIntervalMs(), null);
});

test('ready() sends --ready once, however often it is called', () => {
  const { calls, spawn } = fakeSpawn();
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock: fakeClock(), pid: 4242 });
  n.ready();
  calls[0]?.exit(0);
  n.ready();
  assert.deepEqual(
    calls.map((c) => c.args),
    [['--ready']],
  );
});

test('watchdog() while a notify is running waits for it and merges into one follow-up', () => {
  const { calls, spawn } = fakeSpawn();
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock: fakeClock(), pid: 4242 });
  n.watchdog();
  n.watchdog();
  n.watchdog();
  assert.equal(calls.length, 1, 'only one systemd-notify at a time');
  calls[0]?.exit(0);
  assert.deepEqual(
    calls.map((c) => c.args),
    [['WATCHDOG=1'], ['WATCHDOG=1']],
  );
  calls[1]?.exit(0);
  assert.equal(calls.length, 2);
});

test('after ready() every watchdog ping repeats READY=1, so a lost one is repaired', () => {
  const { calls, spawn } = fakeSpawn();
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock: fakeClock(), pid: 4242 });
  n.ready();
  calls[0]?.exit(0);
  n.watchdog();
  calls[1]?.exit(0);
  assert.deepEqual(
    calls.map((c) => c.args),
    [['--ready'], ['--ready', 'WATCHDOG=1']],
  );
});

test('ready and watchdog requested together go out in one call', () => {
  const { calls, spawn } = fakeSpawn();
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock: fakeClock(), pid: 4242 });
  n.watchdog();
  n.ready();
  n.watchdog();
  calls[0]?.exit(0);
  assert.deepEqual(
    calls.map((c) => c.args),
    [['WATCHDOG=1'], ['--ready', 'WATCHDOG=1']],
  );
});

test('a hung systemd-notify is killed after the timeout and reported', () => {
  const { calls, spawn } = fakeSpawn();
  const clock = fakeClock();
  const errors: string[] = [];
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock, pid: 4242, timeoutMs: 100, onError: (m) => errors.push(m) });
  n.watchdog();
  clock.fire();
  assert.equal(calls[0]?.killedWith, 'SIGKILL');
  assert.match(errors[0] ?? '', /no answer within 100 ms/);
  n.watchdog();
  assert.equal(calls.length, 2, 'the next ping is sent after the kill');
});

test('a failed ready is retried with the next watchdog ping, not in a loop', () => {
  const { calls, spawn } = fakeSpawn();
  const errors: string[] = [];
  const n = createSystemdNotifier({ env: systemdEnv, spawn, clock: fakeClock(), pid: 4242, onError: (m) => errors.push(m) });
  n.ready();
  calls[0]?.emit('error', new Error('spawn systemd-notify ENOENT'));
  assert.equal(calls.length, 1);
  assert.match(errors[0] ?? '', /--ready: spawn systemd-notify ENOENT/);
  n.watchdog();
  assert.deepEqual(calls[1]?.args, ['--ready', 'WATCHDOG=1']);
  calls[1]?.exit(1);
  assert.match(errors[1] ?? '', /exited with 1/);
});

test('a spawn that throws is reported, never thrown', () => {
  const errors: string[] = [];
  const n = createSystemdNotifier({
    env: systemdEnv,
    spawn: () => {
      throw new Error('EAGAIN');
    },
    clock: fakeClock(),
    pid: 4242,
    onError: (m) => errors.push(m),
  });
  assert.doesNotThrow(() => {
    n.ready();
    n.watchdog();
  });
  assert.equal(errors.length, 2);
});

test('the watchdog interval is half of WATCHDOG_USEC, for this PID only', () => {
  assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: '30000000' }, 1), 15000);
  assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, 1), 15000);
  assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '2' }, 1), null);
  assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: 'soon' }, 1), null);
  assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: '0' }, 1), null);
  assert.equal(watchdogIntervalFromEnv({}, 1), null);
  const n = createSystemdNotifier({ env: systemdEnv, spawn: fakeSpawn().spawn, clock: fakeClock(), pid: 4242 });
  assert.equal(n.watchdogIntervalMs(), 15000);
});

test('with the real systemd-notify and no listening socket it reports the failure', {
  skip: !existsSync('/usr/bin/systemd-notify') && 'systemd-notify not installed',
}, async () => {
  const errors: string[] = [];
  const done = new Promise<void>((resolve) => {
    const n = createSystemdNotifier({
      env: { NOTIFY_SOCKET: '/nonexistent/tripwarden-notify.sock' },
      onError: (m) => {
        errors.push(m);
        resolve();
      },
    });
    n.ready();
  });
  await done;
  assert.match(errors[0] ?? '', /systemd-notify --ready: exited with/);
});
