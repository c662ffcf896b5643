/**
 * Attack-to-alarm times for the attack catalogue: each test records the time
 * from its attack to the alarm row (the row's `openedAt`, stamped by the server),
 * each file writes its own rows to test-artifacts/attack-latencies/<file>.json,
 * and the merged set goes to test-artifacts/attack-latencies.json with a table
 * printed. Budgets are reported beside the figures, never asserted (timing on a
 * shared 2-core machine would make them flaky).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ROOT } from '../helpers/cluster.ts';

export interface LatencyRow {
  attack: string;
  kind: string;
  subject: string;
  /** The time budget, in words: "1 s", "one interval", "deadline", ... */
  budget: string;
  /** Budget in ms for this run's settings (interval 1 s, grace 1 s), for the "within" column. */
  budgetMs: number;
  ms: number;
  file: string;
  at: string;
}

const DIR = join(ROOT, 'test-artifacts');
const rows: LatencyRow[] = [];

/** Attack-to-alarm time of an alarm row: the server's `openedAt` minus the moment of the attack. */
export function since(t0: number, alarm: { openedAt: string }): number {
  return Math.max(0, Date.parse(alarm.openedAt) - t0);
}

/** Records one measured figure (and prints it as a TAP comment at once). */
export function record(file: string, r: Omit<LatencyRow, 'file' | 'at'>): void {
  const row = { ...r, file: basename(file), at: new Date().toISOString() };
  rows.push(row);
  console.log(`attack "${r.attack}": ${r.kind} on ${r.subject} after ${r.ms} ms (budget ${r.budget})`);
}

/** Writes this file's rows, merges every file's rows into attack-latencies.json, prints the table. */
export function report(file: string): void {
  const per = join(DIR, 'attack-latencies');
  mkdirSync(per, { recursive: true });
  const mine = join(per, `${basename(file).replace(/\.test\.ts$/, '')}.json`);
  writeFileSync(`${mine}.tmp`, `${JSON.stringify(rows, null, 2)}\n`);
  renameSync(`${mine}.tmp`, mine);
  const all: LatencyRow[] = [];
  for (const n of readdirSync(per)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    try {
      all.push(...(JSON.parse(readFileSync(join(per, n), 'utf8')) as LatencyRow[]));
    } catch {
      /* a file being written by a parallel run */
    }
  }
  const out = join(DIR, 'attack-latencies.json');
  writeFileSync(`${out}.tmp`, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(`${out}.tmp`, out);
  console.log(table(all));
}

/** A Markdown table of the rows (also what docs/ATTACKS.md shows). */
export function table(all: LatencyRow[]): string {
  const lines = ['| attack | alarm | budget | attack to alarm | within budget |', '|---|---|---|---:|---|'];
  for (const r of all) lines.push(`| ${r.attack} | \`${r.kind}\` | ${r.budget} | ${r.ms} ms | ${r.ms <= r.budgetMs ? 'yes' : 'NO'} |`);
  return lines.join('\n');
}
