import type { EngineName } from './engine.ts';

/**
 * `column = param` as a lookup the engine's index serves. PostgreSQL's b-tree refuses an entry over 2704 bytes,
 * and a path may be 12 KB, so there (migration 17) the keys and unique indexes over paths and subjects hold
 * md5 of the column; the planner uses such an index only when the statement names the same expression. The
 * plain comparison stays: md5 finds the row, equality decides it. `param` is a named parameter (`@path`),
 * since it appears twice.
 */
export function textKeyIs(engine: EngineName, column: string, param: string): string {
  return engine === 'postgres' ? `md5(${column}) = md5(CAST(${param} AS TEXT)) AND ${column} = ${param}` : `${column} = ${param}`;
}

/** The conflict target of `measured`'s key: PostgreSQL's is over md5 of the path (see {@link textKeyIs}). */
export function measuredKey(engine: EngineName): string {
  return engine === 'postgres' ? '(host, kind, md5(key))' : '(host, kind, key)';
}
