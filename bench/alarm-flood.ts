/**
 * One host's alarm flood against another host's mail: a real `serve` (in this process) with mail to a real
 * SMTP peer; an attacker connection with one enrolled host's certificate sends 30,000 new critical files
 * (events of 250, the frame limit's worth) as fast as the gateway reads them; then a second host reports
 * one new critical file. Measured: how long the flood took to store, the alarm rows and database size it
 * left, and how long after its alarm was stored the second host's mail reached the peer.
 *
 *   npm run bench -- alarm-flood      (or: node --import tsx bench/alarm-flood.ts)
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ServerApp } from '../server/server-app.ts';
import { openDatabase } from '../server/storage/db.ts';
import { systemClock } from '../shared/clock.ts';
import { silentLogger } from '../shared/log.ts';
import { fileEntry } from '../test/helpers/file-entry.ts';
import { SmtpPeer } from '../test/helpers/smtp-peer.ts';
import { cli, sleep } from './lib.ts';

const FILES = Number(process.env.BENCH_FLOOD_FILES ?? 30_000);
const PER_EVENT = 250;
const facts = { hostname: 'x', os: 'linux', release: '6', arch: 'x64', runtime: 'node', uptimeSec: 1 };
/** A new critical file, as the agent measures it. */
const file = (path: string) => fileEntry(path, { class: 'critical', sha256: 'b'.repeat(64) });

/** Connects with an enrolled host's key and certificate, says hello and sends an empty report (the baseline). */
async function connectAs(port: number, stateDir: string): Promise<{ send(m: object): void; close(): void }> {
  const r = (f: string) => readFileSync(join(stateDir, f), 'utf8');
  const ws = new WebSocket(`wss://127.0.0.1:${port}/agent`, { key: r('agent.key'), cert: r('agent.crt'), ca: r('ca.crt'), rejectUnauthorized: true });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const bootId = randomUUID();
  let seq = 0;
  const send = (m: object) => ws.send(JSON.stringify({ ...m, bootId, seq: seq++, sentAt: Date.now() }));
  const welcomed = new Promise((res) => ws.on('message', (d) => JSON.parse(d.toString()).type === 'welcome' && res(null)));
  send({ type: 'hello', protocol: 1, agentVersion: 'bench', interval: 60_000, facts });
  await welcomed;
  send({ type: 'report', reportId: randomUUID(), part: 0, last: true, files: [], daemons: [], mounts: [] });
  return { send, close: () => ws.close() };
}

export async function alarmFlood(): Promise<Record<string, unknown>> {
  const tmp = mkdtempSync(join(tmpdir(), 'tw-bench-flood-'));
  const dir = join(tmp, 'data');
  const peer = new SmtpPeer();
  const smtpPort = await peer.start();
  const fp = /ca-sha256: (\S+)/.exec(await cli('server', ['init', '--dir', dir]))![1]!;
  const cfg = join(dir, 'server.yml');
  const smtp = `smtp:\n  host: 127.0.0.1\n  port: ${smtpPort}\n  secure: false\n  from: tripwarden@bench.example\n  to: security@bench.example`;
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^smtp: null$/m, smtp));
  const app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock: systemClock, log: silentLogger() });
  const addr = await app.start();
  const url = `wss://127.0.0.1:${addr.gateway.port}`;
  const states: Record<string, string> = {};
  for (const host of ['flooder', 'victim']) {
    const token = (await cli('server', ['token', host, '--dir', dir])).trim();
    const config = join(tmp, `${host}.yml`);
    states[host] = join(tmp, host);
    writeFileSync(config, `server: ${url}\nstateDir: ${states[host]}\ndefaults: false\n`);
    await cli('agent', ['enroll', '--server', url, '--token', token, '--ca-sha256', fp, '--config', config]);
  }
  const db = openDatabase(join(dir, 'tripwarden.db'));
  const q = (sql: string, ...a: unknown[]) => db.prepare(sql).get(...a) as Record<string, number>;
  const mib = () => {
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    const db = join(dir, 'tripwarden.db');
    return +((size(db) + size(`${db}-wal`)) / 2 ** 20).toFixed(1);
  };
  const mibBefore = mib();

  const flooder = await connectAs(addr.gateway.port, states.flooder!);
  await sleep(500);
  const t0 = performance.now();
  for (let from = 0; from < FILES; from += PER_EVENT) {
    const files = Array.from({ length: Math.min(PER_EVENT, FILES - from) }, (_, i) => file(`/srv/drop/f${from + i}`));
    flooder.send({ type: 'event', files, gone: [], daemons: [], mounts: [], notes: [] });
  }
  // Stored once the flood alarm has folded every file past the ones opened on their own.
  const folded = () => {
    const f = db.prepare(`SELECT detail FROM alarms WHERE host = 'flooder' AND kind = 'alarm-flood' AND resolved_at IS NULL`).pluck().get() as string | undefined;
    return f ? (JSON.parse(f) as { folded: number }).folded : 0;
  };
  const rows = () => q(`SELECT COUNT(*) AS n FROM alarms WHERE host = 'flooder' AND kind != 'alarm-flood'`).n!;
  while (rows() + folded() < FILES) await sleep(50);
  const floodMs = performance.now() - t0;

  const victim = await connectAs(addr.gateway.port, states.victim!);
  await sleep(500);
  victim.send({ type: 'event', files: [file('/usr/sbin/sshd-backdoor')], gone: [], daemons: [], mounts: [], notes: [] });
  let storedAt = 0;
  while (!storedAt) {
    storedAt = (db.prepare(`SELECT opened_at FROM alarms WHERE host = 'victim' AND kind = 'file-added'`).pluck().get() as number | undefined) ?? 0;
    await sleep(20);
  }
  const seen = peer.received.length;
  const deadline = Date.now() + 20 * 60_000;
  while (!peer.received.some((m) => `${m.subject}\n${m.text}`.includes('victim')) && Date.now() < deadline) await sleep(50);
  const mailDelayMs = Date.now() - storedAt;

  const result = {
    files: FILES,
    floodStoredMs: Math.round(floodMs),
    flooderAlarmRows: q(`SELECT COUNT(*) AS n FROM alarms WHERE host = 'flooder'`).n,
    flooderAlarmEvents: q(`SELECT COUNT(*) AS n FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE a.host = 'flooder'`).n,
    foldedIntoFlood: folded(),
    dbMiBBefore: mibBefore,
    dbMiBAfter: mib(),
    measuredRows: q(`SELECT COUNT(*) AS n FROM measured WHERE host = 'flooder'`).n,
    mailsBeforeVictims: seen,
    victimMailDelayMs: mailDelayMs,
  };
  flooder.close();
  victim.close();
  db.close();
  await app.stop();
  await peer.stop();
  rmSync(tmp, { recursive: true, force: true });
  return result;
}

if (import.meta.filename === process.argv[1]) process.stdout.write(`${JSON.stringify(await alarmFlood(), null, 2)}\n`);
