// Container health check for the server: exit 0 when GET /healthz answers 200.
//
// The dashboard listens on plain HTTP at 127.0.0.1:7080 by default and on HTTPS
// when bound to another address, so both are tried on the loopback; the
// certificate is not checked (this is a liveness probe inside the container,
// not a trust decision). TW_HEALTH_URLS (space-separated) replaces the list.
// Plain JS so that it runs without tsx, in well under the probe's timeout.
import http from 'node:http';
import https from 'node:https';

const urls = (process.env.TW_HEALTH_URLS ?? 'http://127.0.0.1:7080/healthz https://127.0.0.1:7080/healthz').split(/\s+/).filter(Boolean);
const TIMEOUT_MS = 3000;

function probe(url) {
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { timeout: TIMEOUT_MS, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? null : `${url}: HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(`${url}: ${err.code ?? err.message}`));
  });
}

const failures = [];
for (const url of urls) {
  const failure = await probe(url);
  if (failure === null) process.exit(0);
  failures.push(failure);
}
console.error(`unhealthy: ${failures.join('; ')}`);
process.exit(1);
