import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { parseDuration } from './duration.ts';
import { sharedError } from './errors.ts';

/** A duration field (`10s`, `2m`) that becomes milliseconds after validation. */
export function durationField(opts: { min?: number; max?: number } = {}) {
  return z.string({ error: 'must be a duration with a unit, e.g. 10s, 2m, 1h' }).transform((text, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
    if (opts.min !== undefined && ms < opts.min) ctx.addIssue({ code: 'custom', message: `"${text}" is shorter than ${opts.min} ms` });
    if (opts.max !== undefined && ms > opts.max) ctx.addIssue({ code: 'custom', message: `"${text}" is longer than ${opts.max} ms` });
    return ms;
  });
}

/** Recursively freezes a validated config so nothing changes it after start. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function valueAt(data: unknown, path: PropertyKey[]): unknown {
  let v: unknown = data;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/**
 * Validates a decoded config against a strict schema. Unknown keys and bad
 * values become one error line that names the key (`watch.0.recurse`).
 */
export function validateConfig<S extends z.ZodType>(schema: S, data: unknown, source: string): z.output<S> {
  const r = schema.safeParse(data ?? {});
  if (r.success) return deepFreeze(r.data);
  let issue = r.error.issues[0]!;
  // A key that takes one value or a list: the branch for the value's own type says what is wrong with it.
  if (issue.code === 'invalid_union' && valueAt(data, issue.path) !== undefined) {
    const branch = issue.errors.find((e) => e[0] && !(e[0].code === 'invalid_type' && e[0].path.length === 0))?.[0];
    if (branch) issue = { ...branch, path: [...issue.path, ...branch.path] };
  }
  const path = issue.path.map(String);
  let msg: string;
  if (issue.code === 'unrecognized_keys') {
    const key = [...path, issue.keys[0]].join('.');
    msg = `unknown key "${key}"`;
  } else if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && valueAt(data, issue.path) === undefined) {
    msg = `missing key "${path.join('.')}"`;
  } else {
    msg = `key "${path.join('.') || '(top)'}": ${issue.message}`;
  }
  throw sharedError('TW_CONFIG_INVALID', `config ${source}: ${msg}`);
}

/** Reads, parses and validates a YAML config file (see {@link validateConfig}). */
export function loadYamlConfig<S extends z.ZodType>(schema: S, path: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw sharedError('TW_CONFIG_UNREADABLE', `config ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw sharedError('TW_CONFIG_UNREADABLE', `config ${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return validateConfig(schema, data, path);
}
