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
 * The channel registry: one factory per channel, each returning null when
 * its config block is absent. Adding a channel is one file and one line here.
 */
export const CHANNELS: Readonly<Record<string, (c: ChannelContext) => AlarmChannel | null>> = {
  mail: (c) => (c.config.smtp ? new MailChannel({ smtp: c.config.smtp, dir: c.dir }) : null),
  syslog: (c) => (c.config.syslog ? new SyslogChannel(c.config.syslog) : null),
  webhook: (c) => (c.config.webhook ? new WebhookChannel(c.config.webhook) : null),
};

/** Creates every configured channel. */
export function createChannels(c: ChannelContext): AlarmChannel[] {
  return Object.values(CHANNELS).flatMap((make) => make(c) ?? []);
}
