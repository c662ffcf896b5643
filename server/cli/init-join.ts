import { copyFileSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { certFingerprint } from '../../shared/cert.ts';
import { mkdirPrivate, writeFilePrivate } from '../../shared/secure-file.ts';
import { defaultInstanceName, loadServerConfig } from '../config.ts';
import { databaseFile, dataDirPaths, openDataDir } from '../storage/data-dir.ts';
import { PG_MIGRATIONS } from '../storage/migrations/index.ts';
import { isPostgresUrl, openSqlDb } from '../storage/open-db.ts';
import { generateRsaKeyPair, issueCertificate } from '../trust/ca.ts';
import type { CommandIo } from './io.ts';

export interface JoinOptions {
  /** The new instance's data dir (must not exist, or be empty: checked by the caller). */
  dir: string;
  /** The data dir of an instance already set up. */
  join: string;
  /** `--listen`, when given: the new instance's agent address (on one host it needs its own port). */
  listen?: string;
  /** `--instance`, when given; else the host name, or the host name and a number when that is taken. */
  instance?: string;
  /** Names for the server certificate (loopback, this host and its addresses, --san). */
  names: string[];
}

/**
 * `init --dir D2 --join D`: a second instance's data dir from the first's. The same CA (its key too: either
 * instance enrolls agents), the same database (for SQLite, `database:` names D's file, so one host only; for
 * PostgreSQL, D's URL),
 * D's settings (mail, syslog, grace...) so either can stand alone, and its own server certificate and instance
 * name. The TLS ticket key is derived from the CA key (tls-tickets.ts), so an agent that fails over resumes its session.
 */
export async function joinDataDir(o: JoinOptions, io: CommandIo): Promise<number> {
  const from = openDataDir(o.join);
  const cfg = loadServerConfig(from.config);
  const database = isPostgresUrl(cfg.database) ? cfg.database : resolve(databaseFile(from, cfg.database));
  const db = openSqlDb(database, PG_MIGRATIONS);
  let taken: Set<string>;
  const shown = db.name;
  try {
    await db.ready();
    taken = new Set((await db.all<{ name: string }>('SELECT name FROM instances')).map((r) => r.name));
  } finally {
    await db.close();
  }
  taken.add(cfg.instance);
  const instance = o.instance ?? freeName(defaultInstanceName().slice(0, 56), taken);

  const p = dataDirPaths(o.dir);
  mkdirPrivate(o.dir);
  copyFileSync(from.caKey, p.caKey);
  copyFileSync(from.caCert, p.caCert);
  const ca = { keyPem: readFileSync(p.caKey, 'utf8'), certPem: readFileSync(p.caCert, 'utf8') };
  const server = generateRsaKeyPair(2048);
  writeFilePrivate(p.serverKey, server.privateKeyPem);
  writeFilePrivate(p.serverCert, issueCertificate({ ca, publicKeyPem: server.publicKeyPem, commonName: hostname(), names: o.names, usage: 'server' }));
  const doc = parseDocument(readFileSync(from.config, 'utf8'));
  doc.set('database', database);
  doc.set('instance', instance);
  if (o.listen) doc.set('listen', o.listen);
  writeFilePrivate(p.config, doc.toString());
  // The result must load as D2's config would at `serve`.
  loadServerConfig(p.config);
  io.out(`initialised ${o.dir} as instance ${instance}, sharing the database ${shown} with ${o.join}`);
  io.out(`ca-sha256: ${certFingerprint(ca.certPem)}`);
  return 0;
}

/** `base`, or `base-2`, `base-3`... whichever is not taken. */
function freeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
