/** Units accepted in a duration string, in milliseconds. */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+)(ms|s|m|h|d)/gy;

/**
 * Parses a duration such as `10s`, `2m`, `1h30m` or `250ms` into milliseconds.
 * @throws Error naming the accepted forms when the text is not a duration.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '') throw new Error(`bad duration "${text}" (use e.g. 10s, 2m, 1h)`);
  PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = PART.lastIndex;
  }
  if (end !== s.length || !Number.isSafeInteger(total)) {
    throw new Error(`bad duration "${text}" (use e.g. 10s, 2m, 1h)`);
  }
  return total;
}

/** Formats milliseconds as a short human duration (`1h 5m`, `12s`, `340ms`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.floor(ms / 1000);
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean);
  return parts.slice(0, 2).join(' ');
}
