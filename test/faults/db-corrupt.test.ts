/** `serve` on a damaged database refuses to start, with one catalogued line that says what to do. */

import assert from 'node:assert/strict';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initServer, serverCli } from '../helpers/cluster.ts';
import { enrollDirect } from './fault-kit.ts';

test('serve refuses a corrupted database with TW_DB_CORRUPT', async () => {
  const init = initServer();
  await enrollDirect(init.dir, ['a', 'b', 'c']);
  const db = join(init.dir, 'tripwarden.db');
  // Garbage over every page but the header's: the schema and the tables are gone, the file still opens.
  const size = statSync(db).size;
  const fd = openSync(db, 'r+');
  for (let at = 4096; at < size; at += 4096) writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, at + 100);
  closeSync(fd);
  const r = serverCli(['serve', '--dir', init.dir, '--listen', '127.0.0.1:0', '--dashboard', '127.0.0.1:0']);
  assert.notEqual(r.code, 0, `serve started on a damaged database: ${r.stdout}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /TW_DB_CORRUPT/);
  assert.match(lines[0]!, /restore/);
});
