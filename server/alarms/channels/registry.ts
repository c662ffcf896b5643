import type { ServerConfig } from '../../config.ts';
import type { AlarmChannel } from './channel.ts';
import { MailChannel } from './mail-channel.ts';
import { SyslogChannel } from './syslog-channel.ts';
import { WebhookChannel } from './webhook-channel.ts';

/** What a channel factory may use besides the config. */
export interface ChannelContext {
  config: ServerConfig;
  /** The data dir, quoted in command lines a message suggests. */
  dir: string;
}

/**
 * The channel registry: one factory per channel, each returning none when
 * its config block is absent, the main channel, and one more per group that
 * has its own recipients (`mail:GROUP`, `webhook:GROUP`: each its own outbox).
 * Adding a channel is one file and one line here.
 */
export const CHANNELS: Readonly<Record<string, (c: ChannelContext) => AlarmChannel[]>> = {
  mail: ({ config: { smtp }, dir }) =>
    smtp ? [new MailChannel({ smtp, dir }), ...Object.entries(smtp.groups).map(([group, to]) => new MailChannel({ smtp, dir, group, to }))] : [],
  syslog: (c) => (c.config.syslog ? [new SyslogChannel(c.config.syslog)] : []),
  webhook: ({ config: { webhook } }) =>
    webhook
      ? [
          new WebhookChannel(webhook),
          ...Object.entries(webhook.groups).map(
            ([group, g]) => new WebhookChannel({ url: g.url, secretFile: g.secretFile, timeout: g.timeout ?? webhook.timeout }, Date.now, group),
          ),
        ]
      : [],
};

/** Creates every configured channel. */
export function createChannels(c: ChannelContext): AlarmChannel[] {
  return Object.values(CHANNELS).flatMap((make) => make(c));
}
