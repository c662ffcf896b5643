// A process that appends and acknowledges spool records without end, printing `acked N` after each ack; the
// test kills it with SIGKILL wherever it is.
import { writeSync } from 'node:fs';
import { Spool } from '../../../agent/spool/spool.ts';
import { createLogger } from '../../../shared/log.ts';

const spool = new Spool({ dir: process.argv[2]!, log: createLogger('child', { level: 'silent' }) });
let seq = 0;
for (let i = 0; ; i++) {
  const body = { kind: 'event' as const, files: [], gone: [`/k/${i}`], daemons: [], mounts: [], notes: [] };
  const rec = spool.append(body, 'low', { bootId: '11111111-2222-4333-8444-555555555555', seq: seq++, at: 1_700_000_000_000 + i });
  // Every third record is acknowledged with the one before still open: part acks and whole acks alternate.
  if (i % 3 === 2) {
    spool.ack(rec.n - 1, spool.read(rec.n - 2, 1)[0]!.hash);
    writeSync(1, `acked ${rec.n - 1}\n`);
  } else if (i % 3 === 0 && i > 0) {
    spool.ack(rec.n, rec.hash);
    writeSync(1, `acked ${rec.n}\n`);
  }
}
