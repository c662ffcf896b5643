import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCa } from '../../server/trust/ca.ts';

const script = fileURLToPath(new URL('../../scripts/healthcheck.mjs', import.meta.url));

function probe(urls: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { env: { TW_HEALTH_URLS: urls }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const handler = (status: number) => (req: { url?: string }, res: { writeHead(s: number): void; end(b: string): void }) => {
  res.writeHead(req.url === '/healthz' ? status : 404);
  res.end('{}');
};

test('healthy when the plain-HTTP dashboard answers 200 on /healthz', async () => {
  const server = createHttp(handler(200));
  try {
    const port = await listening(server);
    assert.deepEqual(await probe(`http://127.0.0.1:${port}/healthz`), { code: 0, stderr: '' });
  } finally {
    server.close();
  }
});

test('healthy over HTTPS with a certificate it does not trust, after plain HTTP fails', async () => {
  const { keyPem, certPem } = createCa('healthcheck test');
  const server = createHttps({ key: keyPem, cert: certPem }, handler(200));
  try {
    const port = await listening(server);
    const r = await probe(`http://127.0.0.1:${port}/healthz https://127.0.0.1:${port}/healthz`);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    server.close();
  }
});

test('unhealthy, with the reason for each address, on a 503 or a closed port', async () => {
  const server = createHttp(handler(503));
  const closed = createHttp();
  try {
    const port = await listening(server);
    const closedPort = await listening(closed);
    closed.close();
    const r = await probe(`http://127.0.0.1:${port}/healthz http://127.0.0.1:${closedPort}/healthz`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 503/);
    assert.match(r.stderr, /ECONNREFUSED/);
  } finally {
    server.close();
  }
});
