import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from '../../../server/storage/migrations/index.ts';

const DIR = fileURLToPath(new URL('../../../server/storage/migrations/', import.meta.url));

/**
 * SHA-256 of the SQL each shipped migration applies (its exported text, so a formatter pass over the TypeScript
 * around it changes nothing). A database that ran migration N never runs it again: an edit reaches only new
 * installs, and the two then differ for ever.
 */
const SHIPPED = [
  'e695eb09d721bc35c7da6d8e1c3b5043428cd6386e874a2139ec547a94c77fbc',
  '470cc27e023b394a5ed20d054881141b2e92f0a1cb338e906e48b05286fe6c9f',
  '6f6bf0b9b04cb142a389633987de287457269cb763f969da8a72b62fc6b17af9',
  '5c81787d9b79dc7e04a012f716365dba5c8124a86601ca505cd9ced436727c05',
  '55915cc22f3f1b6bcacf3412fc7403d7c39c749afb694b0203e62a99ac3c8db3',
  '999bc1e21a8cf968aca459e3992799d43f4019b11676b7b5dcd90448e174e5fe',
  '5ef71666a0bdd3bd326ebd8f267b06af86d78afa22c162011f9d3675f7206a09',
  '1dabf3652e0e39ca29b39d8a461753969378792d3b89d33106e9bee6da5533f7',
  '0413f7c00da8e6f826cfba2c4ebffb2b6dbcd5307f8a5664327896b040a36795',
  '0370a6c74cdec50a8e736166393f1a36e64456ec5321f67b5ff56073ed892f53',
  '6f92ebc17cce786aea5c7e4f8c8e4acc22c147fe71468dc840ab8ea2d7330a9d',
  '711278669d57a635c3976bd59eb2a1564d582dcaab9cf27d0f5eaad27fc9c125',
  '0d6a9f5ec996c0eaae93bf58c8d6e102bd5dcf887b8702ef4e7fd1cbb40fab37',
  'e767e2abbd4baf82d76f99fc204a1d3c71a872f57abcae0e44c3b827dd7782d4',
  '9ea6b95d82b61cabf41b6a6980cd9e4b6fbdc242fa3083f75098019c611878f3',
  '74f216cab6b9cf3b8d881adc0f3dce9882880c867253c5530187b459a642dd97',
  'a4d9481b0a373a9519e5a7ed863be8d02a728b1328536d29c1c912918b5d3484',
  'bea3fc2a9dd44dac43af884b2332cb76c62fb23aad920fe7a5e61dab5caa50b6',
];

test('every shipped migration applies the SQL it shipped with', () => {
  assert.ok(MIGRATIONS.length >= SHIPPED.length, 'a shipped migration was removed from migrations/index.ts');
  for (const [i, want] of SHIPPED.entries()) {
    const got = createHash('sha256').update(MIGRATIONS[i]!).digest('hex');
    assert.equal(got, want, `migration ${i + 1} has shipped and its SQL changed: restore it and add a new migration (the next number) for the change`);
  }
});

test('no migration imports anything: its text cannot move with live code', () => {
  const files = readdirSync(DIR)
    .filter((f) => /^\d{3}-.*\.ts$/.test(f))
    .sort();
  assert.equal(files.length, MIGRATIONS.length, 'every numbered file is listed in index.ts');
  for (const f of files) {
    const src = readFileSync(join(DIR, f), 'utf8');
    assert.doesNotMatch(src, /^\s*(import|export\s+[^d]\S*\s+from)\b|\bimport\s*\(|\brequire\s*\(/m, `${f} imports code: a migration is frozen text; write the SQL out in it`);
  }
  // index.ts lists the numbered files and nothing else.
  const index = readFileSync(join(DIR, 'index.ts'), 'utf8');
  const specifiers = [...index.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(
    specifiers,
    files.map((f) => `./${f}`),
  );
});
