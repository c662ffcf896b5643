/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by
 * package/area and the top functions, idle excluded from percentages.
 *
 * `node --import tsx bench/load/profile-summary.ts FILE.cpuprofile [--from S] [--to S] [--top N]`
 * (--from/--to: seconds after the profile started, e.g. the steady window
 * the load benchmark prints as `profileWindowS`).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const { values: o, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '20' } } });
const p = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const from = Number(o.from ?? 0) * 1e6;
const to = o.to === undefined ? Infinity : Number(o.to) * 1e6;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
let at = 0;
p.samples.forEach((id, i) => {
  const d = p.timeDeltas[i] ?? 0;
  at += d;
  if (at >= from && at <= to) self.set(id, (self.get(id) ?? 0) + d);
});

function area(n: Node): string {
  const { url, functionName } = n.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : `native ${functionName}`;
  if (url.includes('/node_modules/')) return url.split('/node_modules/')[1]!.split('/')[0]!;
  if (url.startsWith('node:'))
    return url
      .replace(/^node:(internal\/)?/, 'node:')
      .split('/')
      .slice(0, 2)
      .join('/');
  const m = /\/(server|shared|agent)\/(.*)$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : url;
}

const areas = new Map<string, number>();
const funcs = new Map<string, number>();
let total = 0;
for (const [id, us] of self) {
  const n = byId.get(id)!;
  if (n.callFrame.functionName === '(idle)') continue;
  total += us;
  const a = area(n);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const f = `${n.callFrame.functionName || '(anonymous)'} ${a}:${n.callFrame.lineNumber + 1}`;
  funcs.set(f, (funcs.get(f) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
console.log(`busy ${(total / 1e6).toFixed(2)} s of samples`);
console.log('\nby area (self time):');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`  ${pct(us)}  ${a}`);
console.log('\ntop functions (self time):');
for (const [f, us] of [...funcs].sort((x, y) => y[1] - x[1]).slice(0, Number(o.top))) console.log(`  ${pct(us)}  ${f}`);
