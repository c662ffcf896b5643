import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { serverError } from '../errors.ts';

/** Files inside a server data dir. */
export interface DataDirPaths {
  dir: string;
  caKey: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
  database: string;
  config: string;
}

/** Returns the paths of a data dir's files. */
export function dataDirPaths(dir: string): DataDirPaths {
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.crt'),
    database: join(dir, 'tripwarden.db'),
    config: join(dir, 'server.yml'),
  };
}

/** Returns the paths of an initialised data dir, or throws telling how to make one. */
export function openDataDir(dir: string): DataDirPaths {
  const p = dataDirPaths(dir);
  if (!existsSync(p.database) || !existsSync(p.caCert)) {
    throw serverError('TW_DATA_DIR_MISSING', `${dir} is not a Tripwarden data dir`);
  }
  return p;
}
