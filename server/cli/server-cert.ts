import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { writeFilePrivate } from '../../shared/secure-file.ts';
import { loadServerConfig, splitHostPort } from '../config.ts';
import { openDataDir } from '../storage/data-dir.ts';
import { generateRsaKeyPair, issueCertificate } from '../trust/ca.ts';
import { serverNames } from './init.ts';
import type { CommandIo } from './io.ts';

const USAGE = 'server-cert --dir D [--san NAME]...';

/** An IPv6 address in its short form (OpenSSL prints `0:0:0:0:0:0:0:1` for `::1`); anything else as it is. */
const canonical = (name: string) => (isIP(name) === 6 ? new URL(`http://[${name}]/`).hostname.slice(1, -1) : name);

/** The DNS names and IP addresses a certificate's subjectAltName lists. */
export function certificateNames(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .map((e) => /^(?:DNS|IP Address):(.+)$/.exec(e)?.[1])
    .filter((n): n is string => !!n)
    .map(canonical);
}

/**
 * `server-cert`: issues a new server certificate (and key) from the data dir's CA, naming every
 * name the old one named, this host, its addresses, the listen host and each `--san`. Agents keep
 * their certificates and their pin (the CA's fingerprint); `serve` reads the certificate at start.
 */
export async function serverCertCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { dir: { type: 'string' }, san: { type: 'string', multiple: true, default: [] } }, USAGE);
  const p = openDataDir(requireFlag(values.dir, 'dir', USAGE));
  const ca = { keyPem: readFileSync(p.caKey, 'utf8'), certPem: readFileSync(p.caCert, 'utf8') };
  const listenHost = splitHostPort(loadServerConfig(p.config).listen).host;
  const names = [...new Set([...certificateNames(readFileSync(p.serverCert, 'utf8')), ...serverNames(listenHost, values.san as string[]).map(canonical)])];
  const key = generateRsaKeyPair(2048);
  const cert = issueCertificate({ ca, publicKeyPem: key.publicKeyPem, commonName: hostname(), names, usage: 'server' });
  writeFilePrivate(p.serverKey, key.privateKeyPem);
  writeFilePrivate(p.serverCert, cert);
  io.out(`wrote ${p.serverCert} for ${names.join(', ')}`);
  io.out('a running serve keeps the old certificate until it is restarted: restart it now');
  return 0;
}
