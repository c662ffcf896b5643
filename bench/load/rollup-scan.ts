/**
 * Times the rollup reads in their old form (a range on `minute` alone, which
 * scans the whole (host, minute) key) against the form now used (through
 * hosts, a key range per host), on a database kept by `bench:storage --keep`.
 *
 * `node --import tsx bench/load/rollup-scan.ts DB`
 */
import Database from 'better-sqlite3';

const db = new Database(process.argv[2]!, { readonly: true });
const end = Math.floor((db.prepare('SELECT MAX(last_seen) t FROM hosts').get() as { t: number }).t / 60_000);
const time = (label: string, sql: string, ...args: number[]) => {
  const st = db.prepare(sql);
  const t = process.hrtime.bigint();
  const n = st.all(...args).length;
  console.log(`${label}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms (${n} rows)`);
};
time('hosts page bar, old: WHERE minute >= ?', 'SELECT host, minute, beats FROM heartbeat_minutes WHERE minute >= ?', end - 59);
time(
  'hosts page bar, new: hosts CROSS JOIN heartbeat_minutes',
  'SELECT m.host, m.minute, m.beats FROM hosts h CROSS JOIN heartbeat_minutes m ON m.host = h.host AND m.minute >= ?',
  end - 59,
);
time('report 24h beats, old', 'SELECT host, SUM(beats) AS n FROM heartbeat_minutes WHERE minute >= ? AND minute <= ? GROUP BY host', end - 1440, end);
time(
  'report 24h beats, new',
  'SELECT m.host, SUM(m.beats) AS n FROM hosts h CROSS JOIN heartbeat_minutes m ON m.host = h.host AND m.minute >= ? AND m.minute <= ? GROUP BY m.host',
  end - 1440,
  end,
);
time('hourly prune, old: COUNT of DELETE ... WHERE minute < ? (read side)', 'SELECT COUNT(*) FROM heartbeat_minutes WHERE minute < ?', end - 30 * 1440);
