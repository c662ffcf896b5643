import { createRequire } from 'node:module';

declare const __TRIPWARDEN_VERSION__: string | undefined;

/** The product version: compiled in by the agent build, else read from package.json. */
export const VERSION: string =
  typeof __TRIPWARDEN_VERSION__ === 'string' ? __TRIPWARDEN_VERSION__ : (createRequire(import.meta.url)('../package.json') as { version: string }).version;
