import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { certFingerprint } from '../../shared/cert.ts';
import { sharedError } from '../../shared/errors.ts';
import { mkdirPrivate, writeFilePrivate } from '../../shared/secure-file.ts';
import { defaultServerConfigText, splitHostPort } from '../config.ts';
import { serverError } from '../errors.ts';
import { dataDirPaths } from '../storage/data-dir.ts';
import { PG_MIGRATIONS } from '../storage/migrations/index.ts';
import { isPostgresUrl, openSqlDb } from '../storage/open-db.ts';
import { createCa, generateRsaKeyPair, issueCertificate } from '../trust/ca.ts';
import { generatePassword, hashPassword } from '../trust/passwords.ts';
import { joinDataDir } from './init-join.ts';
import type { CommandIo } from './io.ts';

const USAGE =
  'init --dir D [--database postgres://...] [--listen HOST:PORT] [--san NAME]... [--admin-password-file F] [--instance NAME] | init --dir D2 --join D [--listen HOST:PORT] [--san NAME]... [--instance NAME]';

/** The names the server certificate carries: loopback, this host, its addresses, the listen host and any --san. */
export function serverNames(listenHost: string, extra: string[]): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.replace(/%.*$/, ''));
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && listenHost !== '') names.add(listenHost);
  for (const n of extra) names.add(n);
  return [...names];
}

/** `init`: creates a data dir with the CA, the server certificate, the database and `server.yml`. */
export async function initCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      listen: { type: 'string', default: '0.0.0.0:7443' },
      san: { type: 'string', multiple: true, default: [] },
      'admin-password-file': { type: 'string' },
      join: { type: 'string' },
      instance: { type: 'string' },
      database: { type: 'string' },
    },
    USAGE,
  );
  const dir = requireFlag(values.dir, 'dir', USAGE);
  const listen = values.listen!;
  const instance = values.instance;
  if (instance !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(instance)) {
    throw sharedError('TW_ARGS', `--instance "${instance}" must be 1-63 letters, digits, dots, dashes or underscores (usage: ${USAGE})`);
  }
  let listenHost: string;
  try {
    listenHost = splitHostPort(listen).host;
  } catch {
    throw sharedError('TW_ARGS', `--listen "${listen}" is not HOST:PORT (usage: ${USAGE})`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw serverError('TW_DATA_DIR_EXISTS', `${dir} already exists and is not empty; init refuses to overwrite a data dir`);
  }
  const database = values.database;
  if (database !== undefined && !isPostgresUrl(database)) {
    throw sharedError(
      'TW_ARGS',
      `--database "${String(database).replace(/:[^:@/]*@/, ':***@')}" is not a postgres:// URL (without it, the store is the SQLite file in the data dir; usage: ${USAGE})`,
    );
  }
  if (values.join !== undefined) {
    if (database !== undefined) throw sharedError('TW_ARGS', `--join shares the first instance's database: no --database (usage: ${USAGE})`);
    if (values['admin-password-file']) throw sharedError('TW_ARGS', `--join shares the first instance's users: no --admin-password-file (usage: ${USAGE})`);
    const given = argv.some((a) => a === '--listen' || a.startsWith('--listen='));
    return joinDataDir({ dir, join: values.join, listen: given ? listen : undefined, instance, names: serverNames(listenHost, values.san as string[]) }, io);
  }
  let password: string | null = null;
  if (values['admin-password-file']) {
    password = readFileSync(values['admin-password-file'], 'utf8').replace(/\r?\n$/, '');
    if (password.length < 8) throw sharedError('TW_ARGS', '--admin-password-file: the password must be at least 8 characters');
  }
  const p = dataDirPaths(dir);
  const generated = password === null;
  const admin = password ?? generatePassword();
  // The store first: a PostgreSQL database that cannot be reached (or is newer) fails init before the dir exists.
  mkdirPrivate(dir);
  const db = openSqlDb(database ?? p.database, PG_MIGRATIONS);
  let created: boolean;
  try {
    await db.ready();
    created =
      (await db.run('INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING', ['admin', hashPassword(admin), Date.now()])) === 1;
  } finally {
    await db.close();
  }
  const ca = createCa(`Tripwarden CA ${hostname()}`);
  writeFilePrivate(p.caKey, ca.keyPem);
  writeFilePrivate(p.caCert, ca.certPem);
  const server = generateRsaKeyPair(2048);
  const cert = issueCertificate({
    ca,
    publicKeyPem: server.publicKeyPem,
    commonName: hostname(),
    names: serverNames(listenHost, values.san as string[]),
    usage: 'server',
  });
  writeFilePrivate(p.serverKey, server.privateKeyPem);
  writeFilePrivate(p.serverCert, cert);
  writeFilePrivate(p.config, defaultServerConfigText(listen, { instance, database }));
  io.out(database === undefined ? `initialised ${dir}` : `initialised ${dir}, storing in ${db.name}`);
  io.out(`ca-sha256: ${certFingerprint(ca.certPem)}`);
  if (!created) io.out('the database already has the dashboard user admin: its password is unchanged');
  else if (generated) io.out(`dashboard user admin, password (shown once): ${admin}`);
  return 0;
}
