/**
 * A fleet of simulated agents for the load benchmark: a server data dir made
 * by the real `init`, and N hosts enrolled the way `server/trust/enrollment.ts`
 * does it (a `hosts` row with the certificate's serial and SHA-256), but with
 * certificates issued directly by the data dir's CA (see fast-issue.ts)
 * instead of N token + CSR round trips at RSA speed.
 *
 * Certificates are cached in a template dir and reused by later runs; each
 * run gets a fresh copy of the data dir, so alarms of one run never leak into
 * the next.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dataDirPaths } from '../../server/storage/data-dir.ts';
import { openDatabase } from '../../server/storage/db.ts';
import { generateRsaKeyPair } from '../../server/trust/ca.ts';
import { certFingerprint } from '../../shared/cert.ts';
import { FastIssuer } from './fast-issue.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface FleetAgent {
  host: string;
  cert: string;
  serial: string;
  sha256: string;
}

export interface Fleet {
  /** The fresh data dir for this run. */
  dir: string;
  /** The agents' shared private key (PEM) and the CA certificate. */
  keyPem: string;
  caPem: string;
  agents: FleetAgent[];
}

const hostName = (i: number) => `load-${String(i).padStart(5, '0')}`;

/** Ensures `template` holds an initialised data dir and at least `n` agent certificates. */
export function prepareTemplate(template: string, n: number, port: number, log: (s: string) => void): void {
  const data = join(template, 'data');
  if (!existsSync(join(data, 'ca.crt'))) {
    mkdirSync(template, { recursive: true });
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'server/main.ts'), 'init', '--dir', data, '--listen', `127.0.0.1:${port}`, '--admin-password-file', writePass(template)],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`init failed: ${r.stderr}`);
  }
  const keyFile = join(template, 'agent.key');
  if (!existsSync(keyFile)) {
    const kp = generateRsaKeyPair(2048);
    writeFileSync(keyFile, kp.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(template, 'agent.pub'), kp.publicKeyPem);
  }
  const certsFile = join(template, 'agents.jsonl');
  const have = existsSync(certsFile) ? readFileSync(certsFile, 'utf8').split('\n').filter(Boolean).length : 0;
  if (have >= n) return;
  const p = dataDirPaths(data);
  const issuer = new FastIssuer({ keyPem: readFileSync(p.caKey, 'utf8'), certPem: readFileSync(p.caCert, 'utf8') }, readFileSync(join(template, 'agent.pub'), 'utf8'));
  const t0 = Date.now();
  let batch = '';
  for (let i = have; i < n; i++) {
    const host = hostName(i);
    const { certPem, serial } = issuer.issue(host);
    batch += `${JSON.stringify({ host, cert: certPem, serial, sha256: certFingerprint(certPem) })}\n`;
    if (batch.length > 1 << 20) {
      appendFileSync(certsFile, batch);
      batch = '';
    }
  }
  appendFileSync(certsFile, batch);
  log(`issued ${n - have} agent certificates in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function writePass(template: string): string {
  const f = join(template, 'admin-password');
  writeFileSync(f, 'bench-load-password\n', { mode: 0o600 });
  return f;
}

/** A fresh data dir at `runDir` with the first `n` agents of the template enrolled. */
export function makeFleet(template: string, runDir: string, n: number): Fleet {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const dir = join(runDir, 'data');
  cpSync(join(template, 'data'), dir, { recursive: true });
  const agents = readFileSync(join(template, 'agents.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, n)
    .map((l) => JSON.parse(l) as FleetAgent);
  const db = openDatabase(dataDirPaths(dir).database);
  const now = Date.now();
  // The same row enrollHost inserts for a new host.
  const ins = db.prepare(`INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)`);
  db.transaction(() => {
    for (const a of agents) ins.run(a.host, 'load', now, a.serial, a.sha256, now);
  })();
  db.close();
  return { dir, keyPem: readFileSync(join(template, 'agent.key'), 'utf8'), caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), agents };
}
