import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { ProcFile } from '../../../agent/checks/proc-file.ts';
import { waitFor } from '../../helpers/wait.ts';

const state = (f: ProcFile) => {
  const s = f.read('latin1');
  return s.charAt(s.lastIndexOf(')') + 2);
};

test('a kept /proc file reads afresh each time, and reads as gone once its process is', async () => {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const f = new ProcFile(`/proc/${child.pid}/stat`);
  try {
    // Just spawned, it may still be running (exec, then into its sleep) on a loaded host.
    await waitFor(() => state(f) === 'S', { what: 'the child asleep, seen through the kept file' });
    child.kill('SIGSTOP');
    await waitFor(() => state(f) === 'T', { what: 'the stop seen through the kept file' });
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.throws(() => f.read(), { code: 'ENOENT' }, 'reaped: the kept file fails, and the path is gone too');
  } finally {
    f.close();
    child.kill('SIGKILL');
  }
});

test('a file longer than the buffer is read whole; readWhile stops when told', () => {
  const f = new ProcFile('/proc/self/maps');
  try {
    const whole = f.read();
    assert.ok(whole.endsWith('\n') && whole.split('\n').length > 20);
    let reads = 0;
    const head = f.readWhile(64, () => ++reads < 2);
    assert.equal(reads, 2);
    assert.equal(head.length, 128);
    assert.equal(head, whole.slice(0, 128));
  } finally {
    f.close();
  }
});
