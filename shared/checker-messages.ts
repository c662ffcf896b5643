/**
 * Messages of a centralized checker run (AIDE or Tripwire on the guarded
 * host, started when the server says). The server chooses when and sends the
 * hashes it expects; the agent chooses what (only the checkers its own config
 * names, with argument lists it builds itself), refuses on any difference, and
 * returns the output and the result as spooled records, so a run finished
 * while the server is away is delivered once, later, in order.
 */
import * as z from 'zod';

const uuid = z.string().regex(/^[0-9a-f-]{36}$/, 'must be a UUID');
const time = z.number().int().min(0).max(8.64e15);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits');
const absPath = z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The checkers an agent can be configured to run. */
export const CheckerKind = z.enum(['aide', 'tripwire']);

/**
 * In `hello`: each checker the agent's config names, with the files it will hash before a run (binary,
 * the libraries it loads, config, database). The server answers a due run with its baseline hashes for them.
 */
export const CheckerDeclaration = z.strictObject({
  kind: z.enum(['aide', 'tripwire']),
  files: z.array(absPath).max(512),
});

/** Largest piece of a checker's raw output in one record, in bytes (UTF-8). */
export const CHECKER_OUTPUT_PART_BYTES = 32 * 1024;
/** Most entries one result carries; the counts stay exact beyond it (`truncated`). */
export const MAX_CHECKER_ENTRIES = 1_000;

/** Server → agent: run the configured checker of this kind now, if its files hash as expected. */
export const RunChecker = z.strictObject({
  type: z.literal('run-checker'),
  runId: uuid,
  checker: CheckerKind,
  /** SHA-256 the server's baseline holds for the checker's binary, the libraries it loads, its config and database. */
  expect: z.array(z.strictObject({ path: absPath, sha256: hex64 })).max(512),
  /** Kill the run after this long, in ms (the server's `checkerTimeout`). */
  timeoutMs: z.number().int().min(1_000).max(86_400_000),
});

/** One path the checker reported, with the attributes that changed (empty for added and removed). */
export const CheckerEntry = z.strictObject({
  path: z.string().min(1).max(4096),
  change: z.enum(['added', 'removed', 'changed']),
  attrs: z.array(z.string().max(64)).max(32),
});

/** A piece of a run's raw output, numbered from 0 (spooled like any finding). */
export const CheckerOutputBody = z.strictObject({
  kind: z.literal('checker-output'),
  runId: uuid,
  part: z.number().int().min(0).max(10_000),
  text: z.string().max(CHECKER_OUTPUT_PART_BYTES),
});

/** How one run ended: `refused` (a file differed from `expect`: nothing ran), `failed`, `ok` or `findings`. */
export const CheckerResultBody = z.strictObject({
  kind: z.literal('checker-result'),
  runId: uuid,
  checker: CheckerKind,
  status: z.enum(['ok', 'findings', 'failed', 'refused']),
  startedAt: time,
  finishedAt: time,
  exitCode: z.number().int().min(-1).max(255).nullable(),
  added: count,
  removed: count,
  changed: count,
  entries: z.array(CheckerEntry).max(MAX_CHECKER_ENTRIES),
  /** More entries were found than {@link MAX_CHECKER_ENTRIES}; the counts are exact. */
  truncated: z.boolean(),
  /** SHA-256 of the checker's database after the run (null when there is none). */
  dbSha256: hex64.nullable(),
  /** Why a run failed or was refused, one line. */
  reason: z.string().max(300).optional(),
  /** The files that differed from `expect` (actual null: unreadable or missing). */
  refused: z
    .array(z.strictObject({ path: absPath, expected: hex64.nullable(), actual: hex64.nullable() }))
    .max(64)
    .optional(),
});

export type CheckerKind = z.infer<typeof CheckerKind>;
export type CheckerDeclaration = z.infer<typeof CheckerDeclaration>;
export type RunChecker = z.infer<typeof RunChecker>;
export type CheckerEntry = z.infer<typeof CheckerEntry>;
export type CheckerOutputBody = z.infer<typeof CheckerOutputBody>;
export type CheckerResultBody = z.infer<typeof CheckerResultBody>;
