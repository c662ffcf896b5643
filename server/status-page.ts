import { createServer, type Server } from 'node:http';
import type { Clock } from '../shared/clock.ts';
import { formatDuration } from '../shared/duration.ts';
import type { HostStore } from './host-store.ts';
import type { AlarmStore } from './alarm-store.ts';
import { escapeHtml } from './html.ts';

/**
 * A plain status page: every host with its status and silence, and the open
 * alarms. Loopback only until the dashboard with login replaces it.
 */
export function createStatusPage(d: { hosts: HostStore; alarms: AlarmStore; clock: Clock }): Server {
  return createServer((req, res) => {
    const now = d.clock.now();
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"ok":true}');
    }
    if (req.url === '/hosts.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify(d.hosts.views(now)));
    }
    if (req.url !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    const rows = d.hosts
      .views(now)
      .map(
        (h) => `<tr class="${escapeHtml(h.status)}"><td>${escapeHtml(h.host)}</td><td>${escapeHtml(h.group)}</td><td>${escapeHtml(h.status)}</td>` +
          `<td>${h.silentFor === null ? 'never' : escapeHtml(formatDuration(h.silentFor)) + ' ago'}</td><td>${h.openAlarms}</td></tr>`,
      )
      .join('\n');
    const alarms = d.alarms
      .list({ open: true, limit: 200 })
      .map((a) => `<tr><td>${a.id}</td><td>${escapeHtml(a.host)}</td><td>${escapeHtml(a.severity)}</td><td>${escapeHtml(a.kind)}</td>` +
        `<td>${escapeHtml(a.subject)}</td><td>${escapeHtml(a.openedAt)}</td><td>${a.ackedAt ? 'acked' : ''}</td></tr>`)
      .join('\n');
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Tripwarden</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}
.missing,.stopped{background:#fdd}.late{background:#ffd}.up{background:#dfd}</style></head><body>
<h1>Tripwarden hosts</h1><table><thead><tr><th>host</th><th>group</th><th>status</th><th>last heartbeat</th><th>open alarms</th></tr></thead>
<tbody>${rows}</tbody></table><h2>Open alarms</h2><table><thead><tr><th>id</th><th>host</th><th>severity</th><th>kind</th><th>subject</th><th>opened</th><th></th></tr></thead>
<tbody>${alarms}</tbody></table></body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" });
    res.end(html);
  });
}
