import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { test } from 'node:test';
import { parseElf, sharedLibraries } from '../../../../agent/checks/files/elf-deps.ts';

const bin = existsSync('/usr/sbin/cron') ? '/usr/sbin/cron' : '/bin/ls';

test('the libraries read from the ELF dynamic section are the ones ldd resolves', () => {
  const ours = sharedLibraries(bin);
  const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => !!p)
    .map((p) => realpathSync(p))
    .sort();
  assert.deepEqual(ours, [...new Set(ldd)].sort());
});

test('a file that is not ELF has no libraries and is not an error', () => {
  assert.equal(parseElf('/etc/hostname'), null);
  assert.deepEqual(sharedLibraries('/etc/hostname'), []);
  assert.deepEqual(sharedLibraries('/nonexistent/binary'), []);
});
