import type { CheckFactory } from './check.ts';
import { DaemonsCheck } from './daemons.ts';
import { FilesCheck } from './files/files.ts';
import { MountsCheck } from './mounts.ts';
import { PortsCheck } from './ports.ts';

/** Every agent check, by name: one file each, one interface (`check.ts`). */
export const CHECKS: Readonly<Record<string, CheckFactory>> = {
  files: (ctx) => new FilesCheck(ctx),
  daemons: (ctx) => new DaemonsCheck(ctx),
  mounts: (ctx) => new MountsCheck(ctx),
  ports: (ctx) => new PortsCheck(ctx),
};
