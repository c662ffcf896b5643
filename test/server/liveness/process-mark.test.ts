/** Marks of real processes: one that runs is not gone; one killed and reaped is; one from elsewhere never is. */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { processGone, processMark } from '../../../server/liveness/process-mark.ts';

test('a running process is not gone; the same process killed is, and so is a mark with its pid restarted later', async () => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const mark = processMark(child.pid!);
  assert.ok(mark, 'this machine shows /proc');
  assert.equal(processGone(mark), false);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(processGone(mark), true);
  // The pid of a process still running, with another start time: a reused pid.
  const own = processMark()!;
  assert.equal(processGone(own), false);
  assert.equal(processGone(`${own.slice(0, own.lastIndexOf('|'))}|1`), true);
});

test('a mark from another machine, another namespace or of another shape is never gone', () => {
  const own = processMark()!;
  const parts = own.split('|');
  // Pids stay below pid_max: none has it.
  const freePid = readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim();
  const elsewhere = (i: number) => parts.map((p, j) => (j === i ? `${p}x` : j === 4 ? freePid : p)).join('|');
  for (let i = 0; i < 4; i++) assert.equal(processGone(elsewhere(i)), false, `field ${i} differs`);
  assert.equal(processGone([...parts.slice(0, 4), freePid, parts[5]].join('|')), true);
  for (const bad of ['', 'x', `${parts.slice(0, 4).join('|')}|0|1`, `${parts.slice(0, 4).join('|')}|abc|1`]) assert.equal(processGone(bad), false);
});
