/**
 * A host layout that looks like the real thing, inside a temp dir: tripwire's
 * binary, policy and database, a setuid-candidate binary and cron's binary,
 * each a copy of a real file. Attacks change these copies, never the real system.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp.ts';

export interface Sandbox {
  root: string;
  /** `<root>/usr/sbin/tripwire`, a copy of a real binary. */
  tripwire: string;
  /** `<root>/etc/tripwire/tw.pol`. */
  policy: string;
  /** `<root>/etc/tripwire/twcfg.txt`. */
  twcfg: string;
  /** `<root>/var/lib/tripwire/<host>.twd`. */
  database: string;
  /** `<root>/usr/bin/passwd`, a copy of a real binary, mode 0755. */
  passwd: string;
  /** Scratch space on the same file system, outside the guarded paths. */
  scratch: string;
  /** The `watch:` lines guarding all of it as critical. */
  watchYaml: string;
}

/** A real binary to copy (what is installed here). */
export function someBinary(...names: string[]): string {
  for (const n of [...names, '/usr/bin/true', '/bin/true']) if (existsSync(n)) return n;
  throw new Error('no binary to copy');
}

export function makeSandbox(host: string): Sandbox {
  const root = tempDir('tw-attack-root-');
  for (const d of ['usr/sbin', 'usr/bin', 'etc/tripwire', 'var/lib/tripwire', 'scratch']) mkdirSync(join(root, d), { recursive: true });
  const tripwire = join(root, 'usr/sbin/tripwire');
  copyFileSync(someBinary('/usr/sbin/tripwire', '/usr/bin/sha256sum'), tripwire);
  chmodSync(tripwire, 0o755);
  const passwd = join(root, 'usr/bin/passwd');
  copyFileSync(someBinary('/usr/bin/passwd', '/usr/bin/id'), passwd);
  chmodSync(passwd, 0o755);
  const policy = join(root, 'etc/tripwire/tw.pol');
  writeFileSync(policy, '@@section FS\n/usr/sbin -> $(SEC_BIN) ;\n/etc/tripwire -> $(SEC_BIN) ;\n');
  const twcfg = join(root, 'etc/tripwire/twcfg.txt');
  writeFileSync(twcfg, 'ROOT =/usr/sbin\nPOLFILE =/etc/tripwire/tw.pol\nDBFILE =/var/lib/tripwire/$(HOSTNAME).twd\n');
  const database = join(root, `var/lib/tripwire/${host}.twd`);
  writeFileSync(database, Buffer.alloc(64 * 1024, 0x5a));
  const watchYaml = [
    'watch:',
    ...['usr/sbin', 'usr/bin', 'etc/tripwire', 'var/lib/tripwire'].map((d) => `  - { path: ${join(root, d)}, recursive: true, critical: true }`),
    '',
  ].join('\n');
  return { root, tripwire, policy, twcfg, database, passwd, scratch: join(root, 'scratch'), watchYaml };
}
