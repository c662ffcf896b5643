/**
 * Tamper-to-alarm latency: from the write on the agent's host to the alarm
 * row committed on the server, over loopback mTLS. The server runs in this
 * process (its "alarm opened" log line is written right after the commit and
 * is timestamped here with the same monotonic clock as the write); the agent
 * is its own process, as in production. Then Debian's `iwatch` running a
 * local command on the same kind of writes, for comparison.
 *
 *   npm run bench -- tamper-latency      (or: node --import tsx bench/tamper-latency.ts)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLOOD_LIMITS } from '../server/alarms/alarm-flood.ts';
import { ServerApp } from '../server/server-app.ts';
import { systemClock } from '../shared/clock.ts';
import { createLogger } from '../shared/log.ts';
import { cli, fmt, percentile, ROOT, sleep, spawnUntil } from './lib.ts';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const BURST = 20;

export async function tamperLatency(): Promise<Record<string, unknown>> {
  const tmp = mkdtempSync(join(tmpdir(), 'tw-bench-lat-'));
  const dir = join(tmp, 'data');
  const watched = join(tmp, 'watched');
  mkdirSync(watched);
  const total = SAMPLES * 2;
  for (let i = 0; i < total; i++) writeFileSync(join(watched, `f${i}`), `original ${i}\n`);

  // Alarm commits, timestamped the moment the server logs them.
  const opened = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  let established = false;
  const log = createLogger('bench-server', {
    level: 'info',
    destination: {
      write(line: string) {
        const t = performance.now();
        if (line.includes('"baseline established"')) established = true;
        if (!line.includes('"alarm opened"')) return;
        const subject = (JSON.parse(line) as { subject: string }).subject;
        opened.set(subject, t);
        waiters.get(subject)?.();
      },
    },
  });
  const fp = /ca-sha256: (\S+)/.exec(await cli('server', ['init', '--dir', dir]))![1]!;
  // Every sample is an alarm of its own: past the per-host flood limit (200) they would fold into one.
  const floodLimits = { ...FLOOD_LIMITS, burst: 10 * SAMPLES, perMinute: 10 * SAMPLES };
  const app = new ServerApp({ dir, listen: '127.0.0.1:0', dashboard: '127.0.0.1:0', clock: systemClock, log, floodLimits });
  const addr = await app.start();
  const url = `wss://127.0.0.1:${addr.gateway.port}`;
  const token = (await cli('server', ['token', 'bench', '--dir', dir])).trim();
  const config = join(tmp, 'agent.yml');
  writeFileSync(
    config,
    `server: ${url}\nstateDir: ${join(tmp, 'state')}\ninterval: 10s\njitter: 1s\nfullScanEvery: 1h\ndefaults: false\ndaemons: []\nwatch:\n  - { path: ${watched} }\n`,
  );
  await cli('agent', ['enroll', '--server', url, '--token', token, '--ca-sha256', fp, '--config', config]);
  // TRIPWARDEN_AGENT_EXE=$PWD/dist/tripwarden-agent measures the compiled agent instead of the source under tsx.
  const exe = process.env.TRIPWARDEN_AGENT_EXE;
  const agent = exe
    ? await spawnUntil(exe, ['run', '--config', config], (o) => o.msg === 'report sent')
    : await spawnUntil(process.execPath, ['--import', 'tsx', join(ROOT, 'agent/main.ts'), 'run', '--config', config], (o) => o.msg === 'report sent');
  const deadline = Date.now() + 10_000;
  while (!established && Date.now() < deadline) await sleep(10);

  const waitAlarm = (p: string) =>
    new Promise<void>((res) => {
      if (opened.has(p)) return res();
      waiters.set(p, res);
    });
  const timeout = <T>(p: Promise<T>, ms: number) =>
    Promise.race([
      p,
      sleep(ms).then(() => {
        throw new Error('alarm did not come');
      }),
    ]);

  // Isolated writes: one at a time, 50 ms apart.
  const isolated: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const p = join(watched, `f${i}`);
    const t0 = performance.now();
    writeFileSync(p, `tampered ${i}\n`);
    await timeout(waitAlarm(p), 5000);
    isolated.push(opened.get(p)! - t0);
    await sleep(50);
  }
  // Bursts: BURST files written back to back, 600 ms between bursts.
  const burst: number[] = [];
  const firstOfBurst: number[] = [];
  for (let b = 0; b < SAMPLES / BURST; b++) {
    const starts: [string, number][] = [];
    for (let j = 0; j < BURST; j++) {
      const p = join(watched, `f${SAMPLES + b * BURST + j}`);
      starts.push([p, performance.now()]);
      writeFileSync(p, `tampered in a burst\n`);
    }
    await timeout(Promise.all(starts.map(([p]) => waitAlarm(p))), 10_000);
    const lat = starts.map(([p, t0]) => opened.get(p)! - t0);
    burst.push(...lat);
    firstOfBurst.push(Math.min(...starts.map(([p]) => opened.get(p)!)) - starts[0]![1]);
    await sleep(600);
  }
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  await app.stop();

  const iw = await iwatchLatency(tmp);
  rmSync(tmp, { recursive: true, force: true });
  return {
    samples: SAMPLES,
    isolated: { p50: fmt(percentile(isolated, 50)), p99: fmt(percentile(isolated, 99)), max: fmt(Math.max(...isolated)) },
    bursts: {
      size: BURST,
      p50: fmt(percentile(burst, 50)),
      p99: fmt(percentile(burst, 99)),
      firstAlarmP50: fmt(percentile(firstOfBurst, 50)),
      firstAlarmP99: fmt(percentile(firstOfBurst, 99)),
    },
    iwatch: iw,
  };
}

/**
 * iwatch (Debian) on the same kind of writes: the time from the write to its
 * command running (`date +%s%N`, wall clock). The write is stamped with the
 * wall clock too (performance.timeOrigin + now, sub-ms).
 */
async function iwatchLatency(tmp: string): Promise<Record<string, string> | string> {
  if (!existsSync('/usr/bin/iwatch')) return 'iwatch not installed (apt-get install -y iwatch)';
  const d = join(tmp, 'iw');
  mkdirSync(d);
  const out = join(tmp, 'iw.log');
  writeFileSync(out, '');
  const n = Math.min(SAMPLES, 200);
  for (let i = 0; i < n; i++) writeFileSync(join(d, `f${i}`), 'x\n');
  const iw = spawn('/usr/bin/iwatch', ['-e', 'close_write', '-c', `echo $(date +%s%N) %f >> ${out}`, d], { stdio: 'ignore' });
  await sleep(1500); // iwatch (Perl) takes a moment to set its watches
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = join(d, `f${i}`);
    const t0 = performance.timeOrigin + performance.now();
    writeFileSync(p, `tampered ${i}\n`);
    let ran: number | undefined;
    const until = Date.now() + 5000;
    while (ran === undefined && Date.now() < until) {
      await sleep(2);
      const line = readFileSync(out, 'utf8')
        .split('\n')
        .find((l) => l.endsWith(` ${p}`));
      if (line) ran = Number(BigInt(line.split(' ')[0]!) / 1000n) / 1000;
    }
    if (ran !== undefined) lat.push(ran - t0);
    await sleep(50);
  }
  iw.kill('SIGTERM');
  return { samples: String(lat.length), p50: fmt(percentile(lat, 50)), p99: fmt(percentile(lat, 99)), note: 'local command, no network, no hash' };
}

if (process.argv[1]?.endsWith('tamper-latency.ts')) {
  console.log(JSON.stringify(await tamperLatency(), null, 2));
}
