import { hostname } from 'node:os';
import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { DeliveryError } from '../alarms/channels/channel.ts';
import { MailChannel } from '../alarms/channels/mail-channel.ts';
import { formatTestMail } from '../alarms/channels/mail-format.ts';
import { loadServerConfig } from '../config.ts';
import { serverError } from '../errors.ts';
import { openDataDir } from '../storage/data-dir.ts';
import type { CommandIo } from './io.ts';

/**
 * `test-mail --dir D [--group G]`: sends one test message now, bypassing the outbox, to `smtp.to` (with
 * `--group`, to that group's addresses in `smtp.groups`), and says whether it went.
 */
export async function testMailCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'test-mail --dir D [--group G]';
  const { values } = parseCommandArgs(argv, { dir: { type: 'string' }, group: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const config = loadServerConfig(openDataDir(dir).config);
  if (!config.smtp) throw serverError('TW_SMTP_UNSET', `no smtp: block in ${dir}/server.yml`);
  const group = values.group;
  const to = group !== undefined && Object.hasOwn(config.smtp.groups, group) ? config.smtp.groups[group] : undefined;
  if (group !== undefined && !to) throw serverError('TW_SMTP_UNSET', `no smtp.groups.${group} in ${dir}/server.yml`);
  const channel = new MailChannel({ smtp: config.smtp, dir, group, to });
  try {
    const sent = await channel.mail(formatTestMail(Date.now(), hostname()));
    io.out(`test mail sent to ${channel.recipients} via ${config.smtp.host}:${config.smtp.port} (message id ${sent.messageId})`);
    return 0;
  } catch (err) {
    const permanent = err instanceof DeliveryError && err.permanent;
    throw serverError('TW_SMTP_FAILED', `${(err as Error).message} (${permanent ? 'permanent' : 'transient'})`);
  } finally {
    await channel.close();
  }
}
