import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import type { ServerConfig } from '../../config.ts';
import { type AlarmChannel, type AlarmNotice, DeliveryError, type Sent } from './channel.ts';

/** The `webhook:` block of server.yml. */
export type WebhookConfig = NonNullable<ServerConfig['webhook']>;

/** What one webhook endpoint needs: the main one's, or a group's (`webhook.groups.G`) with the timeout resolved. */
export type WebhookTarget = Pick<WebhookConfig, 'url' | 'secretFile' | 'timeout'>;

/** Header names a receiver checks: the signature covers `${timestamp}.${body}`. */
export const WEBHOOK_HEADERS = {
  signature: 'x-tripwarden-signature',
  timestamp: 'x-tripwarden-timestamp',
  event: 'x-tripwarden-event',
} as const;

/** The JSON body of one webhook POST (times as ISO 8601). */
export function webhookBody(n: AlarmNotice, server = hostname()): string {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return JSON.stringify({
    server,
    eventId: n.eventId,
    action: n.action,
    at: iso(n.at),
    alarm: {
      id: n.alarmId,
      host: n.host,
      group: n.group,
      kind: n.kind,
      severity: n.severity,
      subject: n.subject,
      detail: n.detail,
      openedAt: iso(n.openedAt),
      ackedAt: iso(n.ackedAt),
      resolvedAt: iso(n.resolvedAt),
    },
  });
}

/** `sha256=HEX`: HMAC-SHA256 with the shared secret over `${timestamp}.${body}`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Reads the shared secret once; never logged. Throws a message naming the key (`key`, e.g. `webhook.secretFile`). */
function readSecret(path: string, key: string): string {
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (secret.length < 16) throw new Error(`${key}: ${path} holds fewer than 16 characters; use a long random secret`);
  return secret;
}

/**
 * Alarms as signed JSON POSTs to an HTTP(S) endpoint, one per event, retried
 * from the outbox like mail. The receiver recomputes the signature over the
 * timestamp and the raw body, and may refuse old timestamps (replays). The
 * event id is the same on every retry, so a receiver can drop duplicates.
 * node:http rather than fetch: the server runs jitless, without WebAssembly,
 * which fetch's HTTP parser needs.
 */
export class WebhookChannel implements AlarmChannel {
  readonly name: string;
  readonly group?: string;
  private readonly secret: string;
  private readonly url: URL;

  /** `group`: a group's endpoint (`webhook.groups.GROUP`, channel `webhook:GROUP`), which gets only that group's alarms. */
  constructor(
    private readonly cfg: WebhookTarget,
    private readonly now: () => number = Date.now,
    group?: string,
  ) {
    this.group = group;
    this.name = group === undefined ? 'webhook' : `webhook:${group}`;
    this.secret = readSecret(cfg.secretFile, group === undefined ? 'webhook.secretFile' : `webhook.groups.${group}.secretFile`);
    this.url = new URL(cfg.url);
  }

  async send(n: AlarmNotice): Promise<Sent> {
    const body = webhookBody(n);
    const timestamp = String(Math.floor(this.now() / 1000));
    const status = await this.post(body, {
      'content-type': 'application/json',
      'user-agent': 'tripwarden',
      [WEBHOOK_HEADERS.timestamp]: timestamp,
      [WEBHOOK_HEADERS.signature]: webhookSignature(this.secret, timestamp, body),
      [WEBHOOK_HEADERS.event]: String(n.eventId),
    });
    if (status >= 200 && status < 300) return { messageId: `webhook-${n.eventId}` };
    // 408 and 429 ask for a later try; any other 4xx will be refused again.
    const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
    throw new DeliveryError(`webhook ${this.url.origin} answered HTTP ${status}`, permanent);
  }

  private post(body: string, headers: Record<string, string>): Promise<number> {
    const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(this.url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: this.cfg.timeout }, (res) => {
        res.resume(); // the answer's body is not needed; drain it so the socket is freed
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.cfg.timeout} ms`)));
      req.on('error', (err) => reject(new DeliveryError(`webhook ${this.url.origin} unavailable: ${err.message}`, false)));
      req.end(body);
    });
  }

  async close(): Promise<void> {}
}
