import { deepFreeze } from '../../shared/config-file.ts';
import type { AgentConfig } from '../config.ts';
import { resolveChecker } from './checker-files.ts';
import { CHECKER_KINDS } from './kinds/registry.ts';

/** Every file of the checkers a config names, as a run would hash them (read only; never throws). */
export function configuredCheckerFiles(cfg: Pick<AgentConfig, 'checkers'>): string[] {
  const out = new Set<string>();
  for (const c of cfg.checkers) {
    const impl = CHECKER_KINDS.find((k) => k.kind === c.kind);
    if (impl) for (const f of resolveChecker(impl, c.config).files) out.add(f);
  }
  return [...out].sort();
}

/**
 * The config with every file of the configured checkers (binary, libraries,
 * config, includes, database) added to `watch` as critical, whatever
 * `defaults` says: rewriting any of them silences or subverts the checker.
 * The configured config paths join as named (a symlink re-pointed shows too).
 */
export function guardCheckerFiles(cfg: AgentConfig, files: readonly string[] = configuredCheckerFiles(cfg)): AgentConfig {
  const paths = [...new Set([...files, ...cfg.checkers.map((c) => c.config)])];
  if (!paths.length) return cfg;
  const have = new Set(cfg.watch.map((w) => w.path));
  const watch = [...cfg.watch, ...paths.filter((p) => !have.has(p)).map((path) => ({ path, recursive: false, critical: true }))];
  // A path the config already watches keeps its entry and is made critical.
  return deepFreeze({ ...cfg, watch: watch.map((w) => (paths.includes(w.path) ? { ...w, critical: true } : w)) });
}
