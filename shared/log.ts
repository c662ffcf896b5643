import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line (tokens, keys, certificates, passwords). */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'csr',
  '*.csr',
  'cert',
  '*.cert',
  'certificate',
  '*.certificate',
  'secret',
  '*.secret',
];

/**
 * Creates the process logger: JSON lines, one per event, secrets redacted.
 * Components take a child (`log.child({ component: 'gateway' })`).
 */
export function createLogger(name: string, opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name,
      level: opts.level ?? process.env.TRIPWARDEN_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** A logger that drops everything (for CLI commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
