import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { certFingerprint } from '../../shared/cert.ts';
import { sharedError } from '../../shared/errors.ts';
import { mkdirPrivate, writeFilePrivate } from '../../shared/secure-file.ts';
import { defaultServerConfigText, splitHostPort } from '../config.ts';
import { serverError } from '../errors.ts';
import { dataDirPaths } from '../storage/data-dir.ts';
import { openDatabase } from '../storage/db.ts';
import { createCa, generateRsaKeyPair, issueCertificate } from '../trust/ca.ts';
import { generatePassword, hashPassword } from '../trust/passwords.ts';
import type { CommandIo } from './io.ts';

const USAGE = 'init --dir D [--listen HOST:PORT] [--san NAME]... [--admin-password-file F]';

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
    },
    USAGE,
  );
  const dir = requireFlag(values.dir, 'dir', USAGE);
  const listen = values.listen!;
  let listenHost: string;
  try {
    listenHost = splitHostPort(listen).host;
  } catch {
    throw sharedError('TW_ARGS', `--listen "${listen}" is not HOST:PORT (usage: ${USAGE})`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw serverError('TW_DATA_DIR_EXISTS', `${dir} already exists and is not empty; init refuses to overwrite a data dir`);
  }
  let password: string | null = null;
  if (values['admin-password-file']) {
    password = readFileSync(values['admin-password-file'], 'utf8').replace(/\r?\n$/, '');
    if (password.length < 8) throw sharedError('TW_ARGS', '--admin-password-file: the password must be at least 8 characters');
  }
  const p = dataDirPaths(dir);
  mkdirPrivate(dir);
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
  writeFilePrivate(p.config, defaultServerConfigText(listen));
  const db = openDatabase(p.database);
  const generated = password === null;
  const admin = password ?? generatePassword();
  db.prepare('INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)').run('admin', hashPassword(admin), Date.now());
  db.close();
  io.out(`initialised ${dir}`);
  io.out(`ca-sha256: ${certFingerprint(ca.certPem)}`);
  if (generated) io.out(`dashboard user admin, password (shown once): ${admin}`);
  return 0;
}
