/**
 * `init --dir D2 --join D`: a second instance's data dir from the first's, and what `database:` accepts.
 * Real data dirs in temp dirs, real certificates, the real SQLite file.
 */

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initCommand } from '../../../server/cli/init.ts';
import { defaultInstanceName, loadServerConfig } from '../../../server/config.ts';
import { openServerContext } from '../../../server/context.ts';
import { TicketRotation, ticketKeyFor, ticketOptions } from '../../../server/gateway/tls-tickets.ts';
import { systemClock } from '../../../shared/clock.ts';
import { tempDir } from '../../helpers/temp.ts';

function io() {
  const out: string[] = [];
  return { out, io: { out: (l: string) => out.push(l), err: (l: string) => out.push(l) } };
}

test('a joined dir shares the CA and the database, with its own certificate and instance name', async () => {
  const root = tempDir('tw-join-');
  const d = join(root, 'd');
  const d2 = join(root, 'd2');
  const d3 = join(root, 'd3');
  assert.equal(await initCommand(['--dir', d, '--instance', 'alpha', '--listen', '127.0.0.1:7443'], io().io), 0);
  // What D's operator set carries over (mail, grace).
  const cfgD = join(d, 'server.yml');
  writeFileSync(cfgD, readFileSync(cfgD, 'utf8').replace(/^grace: .*$/m, 'grace: 9s'));
  const j = io();
  assert.equal(await initCommand(['--dir', d2, '--join', d, '--instance', 'bravo', '--listen', '127.0.0.1:7444', '--san', 'tw2.example'], j.io), 0);
  assert.match(j.out[0]!, /^initialised .*d2 as instance bravo, sharing the database .*d\/tripwarden\.db with /);
  assert.match(j.out[1]!, /^ca-sha256: [0-9A-F:]{95}$/);
  assert.ok(!existsSync(join(d2, 'tripwarden.db')), 'no database of its own');
  assert.equal(readFileSync(join(d2, 'ca.crt'), 'utf8'), readFileSync(join(d, 'ca.crt'), 'utf8'));
  assert.equal(readFileSync(join(d2, 'ca.key'), 'utf8'), readFileSync(join(d, 'ca.key'), 'utf8'));
  const c1 = new X509Certificate(readFileSync(join(d, 'server.crt')));
  const c2 = new X509Certificate(readFileSync(join(d2, 'server.crt')));
  assert.notEqual(c1.serialNumber, c2.serialNumber, 'its own server certificate');
  assert.ok(c2.checkIssued(new X509Certificate(readFileSync(join(d, 'ca.crt')))), 'issued by the same CA');
  assert.match(c2.subjectAltName ?? '', /tw2\.example/);
  const cfg = loadServerConfig(join(d2, 'server.yml'));
  assert.deepEqual([cfg.instance, cfg.database, cfg.listen, cfg.grace], ['bravo', join(d, 'tripwarden.db'), '127.0.0.1:7444', 9000]);

  // Both open one database: a host enrolled through one is seen through the other.
  const a = openServerContext(d, systemClock);
  const b = openServerContext(d2, systemClock);
  try {
    await a.sql.run(`INSERT INTO hosts (host, grp, status, cert_serial, enrolled_at) VALUES ('h1', 'default', 'pending', 'AA', 0)`);
    assert.equal((await b.hosts.get('h1'))?.host, 'h1');
    // A third without --instance gets the host name, or the host name and a number once that is taken.
    await b.sql.run(`INSERT INTO instances (name, started_at, last_seen, token) VALUES (?, 0, 0, 't')`, [defaultInstanceName()]);
  } finally {
    await a.close();
    await b.close();
  }
  const k = io();
  assert.equal(await initCommand(['--dir', d3, '--join', d2], k.io), 0);
  assert.equal(loadServerConfig(join(d3, 'server.yml')).instance, `${defaultInstanceName()}-2`);
  assert.equal(loadServerConfig(join(d3, 'server.yml')).database, join(d, 'tripwarden.db'), 'joining a joined dir shares the same file');
});

test('join refuses a dir that is not a data dir, and one that exists', async () => {
  const root = tempDir('tw-join-');
  await assert.rejects(initCommand(['--dir', join(root, 'x'), '--join', join(root, 'nothing')], io().io), (e: Error & { code?: string }) => e.code === 'TW_DATA_DIR_MISSING');
  await initCommand(['--dir', join(root, 'd')], io().io);
  writeFileSync(join(root, 'full'), '');
  await assert.rejects(initCommand(['--dir', root, '--join', join(root, 'd')], io().io), (e: Error & { code?: string }) => e.code === 'TW_DATA_DIR_EXISTS');
});

test('database: a postgres:// URL opens PostgreSQL (connecting lazily, no SQLite handle); a missing SQLite file is not created', async () => {
  const root = tempDir('tw-join-');
  const d = join(root, 'd');
  await initCommand(['--dir', d], io().io);
  const cfg = join(d, 'server.yml');
  const base = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, `${base}database: postgres://tw@db.example/tw\n`);
  const pg = openServerContext(d, systemClock);
  assert.equal(pg.sql.engine, 'postgres');
  assert.equal(pg.db, null);
  await pg.close();
  writeFileSync(cfg, `${base}database: ${join(root, 'gone.db')}\n`);
  assert.throws(
    () => openServerContext(d, systemClock),
    (e: Error & { code?: string }) => e.code === 'TW_DATA_DIR_MISSING',
  );
  assert.ok(!existsSync(join(root, 'gone.db')));
  writeFileSync(cfg, `${base}database: relative.db\n`);
  assert.throws(() => openServerContext(d, systemClock), /key "database": must be an absolute path/);
});

test('joined instances hold the same TLS ticket key in every period and rotate together (an agent failing over resumes its session)', async () => {
  const root = tempDir('tw-join-');
  const d = join(root, 'd');
  const d2 = join(root, 'd2');
  const other = join(root, 'other');
  assert.equal(await initCommand(['--dir', d, '--instance', 'alpha', '--listen', '127.0.0.1:7443'], io().io), 0);
  assert.equal(await initCommand(['--dir', d2, '--join', d, '--instance', 'bravo', '--listen', '127.0.0.1:7444'], io().io), 0);
  assert.equal(await initCommand(['--dir', other, '--listen', '127.0.0.1:7445'], io().io), 0);
  const caKey = (dir: string) => readFileSync(join(dir, 'ca.key'), 'utf8');
  const WEEK = 7 * 86_400_000;
  const t = Date.now();
  // What each `serve` loads at its start, whenever each started: the same key within a period.
  assert.deepEqual(ticketOptions(caKey(d2), t).ticketKeys, ticketOptions(caKey(d), t).ticketKeys);
  assert.equal(ticketKeyFor(caKey(d), t).length, 48);
  assert.notDeepEqual(ticketKeyFor(caKey(d), t), ticketKeyFor(caKey(d), t + WEEK), 'the key changes with the period');
  assert.notDeepEqual(ticketKeyFor(caKey(other), t), ticketKeyFor(caKey(d), t), 'another CA, another key');
  // Both running servers switch at the period's end, to the same new key.
  const set: Buffer[][] = [[], []];
  const rotations = [d, d2].map((dir, i) => new TicketRotation({ setTicketKeys: (k) => set[i]!.push(k) }, caKey(dir), t));
  const end = (Math.floor(t / WEEK) + 1) * WEEK;
  assert.deepEqual(
    rotations.map((r) => r.refresh(end - 1)),
    [false, false],
  );
  assert.deepEqual(
    rotations.map((r) => r.refresh(end)),
    [true, true],
  );
  assert.deepEqual(set[0], [ticketKeyFor(caKey(d), end)]);
  assert.deepEqual(set[1], set[0]);
  assert.equal(rotations[0]!.refresh(end + 1000), false, 'once per period');
});
