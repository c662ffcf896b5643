// The floor for the agent's idle footprint: bare Node 24 holding one mutual-TLS
// WebSocket to the server and heartbeating at the same interval, nothing else.
// Run by bench/agent-idle.ts as: node24 floor-client.cjs URL KEY CERT CA INTERVAL_MS
const { readFileSync } = require('node:fs');
const { randomUUID } = require('node:crypto');
const { WebSocket } = require('ws');
const [url, key, cert, ca, intervalMs] = process.argv.slice(2);
const bootId = randomUUID();
let seq = 0;
const ws = new WebSocket(new URL('/agent', url), {
  key: readFileSync(key),
  cert: readFileSync(cert),
  ca: readFileSync(ca),
  rejectUnauthorized: true,
  perMessageDeflate: false,
});
ws.on('open', () => {
  ws.send(
    JSON.stringify({
      type: 'hello',
      bootId,
      seq: seq++,
      sentAt: Date.now(),
      protocol: 1,
      agentVersion: 'floor',
      interval: Number(intervalMs),
      facts: { hostname: 'floor', os: 'Linux', release: '', arch: process.arch, runtime: process.version, uptimeSec: 0 },
    }),
  );
  // One heartbeat in three asks for an ack, as the agent's (agent/link.ts ACK_EVERY).
  let beats = 0;
  setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', bootId, seq: seq++, sentAt: Date.now(), ...(beats++ % 3 === 0 ? { wantAck: true } : {}) })), Number(intervalMs));
  console.log(JSON.stringify({ msg: 'connected' }));
});
ws.on('error', (e) => console.error(e.message));
