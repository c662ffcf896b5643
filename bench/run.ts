/**
 * `npm run bench [-- NAME...]`: runs the benchmarks (all, or those named) and
 * prints each result as JSON. Benchmarks are not tests: they assert nothing
 * about time. Add a benchmark by listing it here.
 */
import { agentIdle } from './agent-idle.ts';
import { alarmFlood } from './alarm-flood.ts';
import { idleConnections } from './idle-connections.ts';
import { rehashThroughput } from './rehash-throughput.ts';
import { tamperLatency } from './tamper-latency.ts';

export const BENCHES: Record<string, () => Promise<Record<string, unknown>>> = {
  'tamper-latency': tamperLatency,
  'rehash-throughput': rehashThroughput,
  'agent-idle': agentIdle,
  'alarm-flood': alarmFlood,
  'idle-connections': idleConnections,
};

// Names are the words that are neither flags nor a flag's value (`--seconds 120` is agent-idle's window, `--beside
// EXE` a second build it measures in the same window).
const args = process.argv.slice(2);
const wanted = args.filter((a, i) => !a.startsWith('-') && args[i - 1] !== '--seconds' && args[i - 1] !== '--beside');
for (const name of wanted.length ? wanted : Object.keys(BENCHES)) {
  const fn = BENCHES[name];
  if (!fn) {
    process.stderr.write(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exitCode = 2;
    continue;
  }
  const t0 = performance.now();
  const result = await fn();
  process.stdout.write(`${JSON.stringify({ bench: name, ms: Math.round(performance.now() - t0), result }, null, 2)}\n`);
}
