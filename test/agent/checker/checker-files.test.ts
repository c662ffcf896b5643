import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { guardCheckerFiles } from '../../../agent/checker/guard-checker-files.ts';
import { MAX_VERIFY_BYTES, verifyFiles } from '../../../agent/checker/verify-files.ts';
import { buildWatchSet, WatchIndex } from '../../../agent/checks/files/watch-set.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import { tempDir } from '../../helpers/temp.ts';

test('the checker binary, its libraries, config and database are guarded critical even with defaults: false', () => {
  const dir = tempDir();
  const conf = join(dir, 'aide.conf');
  const db = join(dir, 'aide.db');
  writeFileSync(conf, `database_in=file:${db}\n/etc p\n`);
  writeFileSync(db, 'db');
  const configPath = join(dir, 'agent.yml');
  writeFileSync(configPath, `server: wss://h:7443\nstateDir: ${dir}\ndefaults: false\nwatch: [{ path: ${conf} }]\ncheckers: [{ kind: aide, config: ${conf} }]\n`);
  const cfg = loadAgentConfig(configPath);
  const plain = new WatchIndex(buildWatchSet(cfg, configPath, { self: '/nonexistent' }));
  assert.equal(plain.classOf(db), null, 'not guarded without the checker files');
  assert.equal(plain.classOf(conf), 'normal');
  const idx = new WatchIndex(buildWatchSet(guardCheckerFiles(cfg), configPath, { self: '/nonexistent' }));
  for (const f of [conf, db, '/usr/bin/aide']) assert.equal(idx.classOf(f), 'critical', f);
  assert.ok(
    idx.targets.some((t) => /\/libc\.so/.test(t.path) && t.class === 'critical'),
    'libc critical',
  );
  assert.ok(Object.isFrozen(guardCheckerFiles(cfg)));
});

test('a file larger than the hashing cap (a database of 17 GiB, sparse here) is refused at once, not hashed for ever', async () => {
  const big = join(tempDir(), 'huge.db');
  writeFileSync(big, '');
  truncateSync(big, MAX_VERIFY_BYTES + 2 ** 30);
  const t0 = Date.now();
  const refused = await verifyFiles([big], [{ path: big, sha256: 'a'.repeat(64) }]);
  assert.deepEqual(refused, [{ path: big, expected: 'a'.repeat(64), actual: null }]);
  assert.ok(Date.now() - t0 < 5_000);
});
