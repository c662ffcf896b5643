/**
 * The SQLite file on a full disk: the data dir on a small tmpfs (mounted by
 * the test; needs root), filled up while agents heartbeat. The server logs
 * one clear error, keeps its connections and keeps answering what needs no
 * write, and records heartbeats again as soon as space returns.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initServer, serverCli, startServer } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/temp.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { alive, enrollDirect, metricsToken, RawAgent, scrape } from './fault-kit.ts';

function canMount(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  const probe = tempDir('tw-mnt-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot mount tmpfs here: ${r.stderr.trim() || r.error?.message}`;
  spawnSync('umount', [probe]);
  return null;
}

/** Writes zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const f = join(dir, 'filler');
  const fd = openSync(f, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last partial block too.
  const fd2 = openSync(join(dir, 'filler2'), 'w');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512));
  } catch {
    /* full */
  } finally {
    closeSync(fd2);
  }
  return f;
}

const skip = canMount();

test('a full disk: clear error, connections kept, recovery when space returns', { skip: skip ?? false, timeout: 90_000 }, async () => {
  const mnt = tempDir('tw-full-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  try {
    // init elsewhere, then move the data dir onto the small file system.
    const init = initServer();
    const ids = await enrollDirect(init.dir, ['full-1', 'full-2', 'full-3']);
    const dir = join(mnt, 'data');
    mkdirSync(dir);
    spawnSync('cp', ['-a', `${init.dir}/.`, dir]);
    const server = await startServer({ dir, fingerprint: init.fingerprint });
    const token = metricsToken(dir);
    try {
      const agents = ids.map((id) => new RawAgent(id, () => server.port, { everyMs: 20, intervalMs: 2000 }).start());
      await waitFor(() => agents.every((a) => a.up), { what: 'agents up' });
      const filler = fill(mnt);
      // Heartbeats now need pages the disk does not have: acks stop, the error is logged once and plainly.
      const line = await server.proc.waitLog((o) => String(o.msg).startsWith('database disk is full'), 20_000);
      assert.equal(line.code, 'SQLITE_FULL');
      // ...with the catalogue's line: the code and what to do.
      assert.match(String(line.error), /^TW_DISK_FULL: no space left for database .*; free space in the data dir/);
      const stalled = agents.map((a) => a.acks);
      await sleep(500);
      assert.ok(alive(server.proc.pid));
      // It keeps serving: same connections, /healthz and /metrics answer, and the failures are counted.
      assert.ok(agents.every((a) => a.connects === 1 && a.up));
      assert.equal((await fetch(`http://127.0.0.1:${server.dashboardPort}/healthz`)).status, 200);
      const m = await scrape(server.dashboardPort, token);
      assert.ok((m.get('tripwarden_storage_errors_total') ?? 0) > 0);
      console.log(`disk full: ${m.get('tripwarden_storage_errors_total')} heartbeats could not be stored; acks ${stalled.join(',')} → ${agents.map((a) => a.acks).join(',')}`);

      unlinkSync(filler);
      rmSync(join(mnt, 'filler2'), { force: true });
      const resumed = agents.map((a) => a.acks);
      await waitFor(() => agents.every((a, i) => a.acks > resumed[i]! + 10), { timeoutMs: 15_000, what: 'acks again after space returned' });
      assert.ok(agents.every((a) => a.connects === 1));
      const hosts = JSON.parse(serverCli(['hosts', '--dir', dir, '--json']).stdout) as { host: string; status: string }[];
      assert.deepEqual(
        hosts.map((h) => h.status),
        ['up', 'up', 'up'],
      );
      for (const a of agents) a.stop();
    } finally {
      await server.stop();
    }
  } finally {
    spawnSync('umount', ['-l', mnt]);
  }
});
