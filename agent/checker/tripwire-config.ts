import { hostname } from 'node:os';
import { dirname, join } from 'node:path';

/** The files a Tripwire check reads, as its config names them. */
export interface TripwireConfig {
  polfile: string | null;
  dbfile: string | null;
  sitekey: string | null;
  localkey: string | null;
}

/**
 * Reads the text `twadmin --print-cfgfile` prints (`KEY = VALUE` lines):
 * `$(HOSTNAME)` and earlier keys are expanded as Tripwire does. Only
 * absolute paths are kept.
 */
export function parseTripwireConfig(text: string, host = hostname()): TripwireConfig {
  const vars = new Map<string, string>([['HOSTNAME', host]]);
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    vars.set(
      m[1]!,
      m[2]!.replace(/\$\((\w+)\)/g, (_s, v: string) => vars.get(v) ?? ''),
    );
  }
  const path = (k: string) => {
    const v = vars.get(k);
    return v?.startsWith('/') && !v.includes('\0') ? v : null;
  };
  return { polfile: path('POLFILE'), dbfile: path('DBFILE'), sitekey: path('SITEKEYFILE'), localkey: path('LOCALKEYFILE') };
}

/**
 * Where a Debian install keeps them, next to the (signed, unreadable without
 * twadmin) `tw.cfg`: what `hello` declares before a run has read the config
 * through twadmin; a run reads the real names and updates the declaration.
 */
export function conventionalTripwireFiles(cfgPath: string, host = hostname()): TripwireConfig {
  const dir = dirname(cfgPath);
  return {
    polfile: join(dir, 'tw.pol'),
    dbfile: `/var/lib/tripwire/${host}.twd`,
    sitekey: join(dir, 'site.key'),
    localkey: join(dir, `${host}-local.key`),
  };
}
