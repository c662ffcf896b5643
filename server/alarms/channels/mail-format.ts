import type { Severity } from '../../../shared/alarm-kinds.ts';
import { formatDuration } from '../../../shared/duration.ts';
import { safeText, shellWord } from '../../../shared/safe-text.ts';
import { alarmGuide } from '../alarm-kinds.ts';
import type { AlarmNotice } from './channel.ts';

/** A mail as text: subject and plain-text body. */
export interface MailText {
  subject: string;
  text: string;
}

const FILE_KINDS = new Set(['file-changed', 'file-added', 'file-missing']);
/** Kinds a maintenance window stops from opening (the host's status is `maintenance`, not late or missing). */
const LIVENESS_KINDS = new Set(['agent-missing', 'agent-disconnected', 'agent-stopped']);

/** What a maintenance window does for this kind, said in the mail's line; null when it does nothing for it. */
function maintenanceNote(kind: string): string | null {
  if (alarmGuide(kind).held) return "planned work: this host's change alarms are held for the hour and mailed when it ends, unless accepted by then";
  if (LIVENESS_KINDS.has(kind)) return 'planned downtime: no liveness alarms for this host for the hour';
  return null;
}

/** Text for a header line: controls, bidi and line breaks shown as escapes (see `safeText`), clipped. */
export function headerSafe(text: string, max = 160): string {
  const s = safeText(text.trim());
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * A server command as a person pastes it on the server host: `tripwarden`, which the server package
 * installs (bin/tripwarden in a checkout), not an npm script that works only inside the checkout.
 */
export function cliLine(dir: string, args: string): string {
  return `tripwarden ${args} --dir ${shellWord(dir)}`;
}

/** How long a reminded alarm has been open (`1d`, `2d 1h`). */
export function openFor(n: AlarmNotice): string {
  return formatDuration(Math.max(0, n.at - n.openedAt));
}

/** Subject of one alarm event: severity, host and kind first, so a mail filter can sort on them; a reminder says so first. */
export function noticeSubject(n: AlarmNotice): string {
  if (n.action === 'remind') return headerSafe(`Reminder: [${n.severity}] ${n.host} ${n.kind} open for ${openFor(n)}: ${n.subject}`, 200);
  const verb = n.action === 'open' ? '' : ' resolved';
  return headerSafe(`[${n.severity}] ${n.host} ${n.kind}${verb}: ${n.subject}`, 200);
}

/** Renders an alarm's detail as indented `key: value` lines; `old`/`new` pairs first. */
export function detailLines(detail: unknown, indent = '  '): string[] {
  if (detail === null || detail === undefined) return [`${indent}(none)`];
  if (typeof detail !== 'object') return [`${indent}${clip(String(detail))}`];
  const entries = Object.entries(detail as Record<string, unknown>);
  const rank = (k: string) => (k === 'old' || k === 'from' ? 0 : k === 'new' || k === 'to' ? 1 : 2);
  entries.sort((a, b) => rank(a[0]) - rank(b[0]));
  return entries.slice(0, 50).map(([k, v]) => `${indent}${clip(k, 60)}: ${clip(typeof v === 'string' ? v : JSON.stringify(v))}`);
}

function clip(s: string, max = 500): string {
  const t = safeText(s);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** What to do, as command lines a person can paste. */
export function actionLines(n: AlarmNotice, dir: string): string[] {
  const g = alarmGuide(n.kind);
  const out = [`${g.meaning} What to do: ${g.todo}.`];
  if (n.action === 'resolve') {
    out.unshift('The condition has cleared; nothing more is needed unless it was unexpected.');
    return out;
  }
  out.push('', `Acknowledge:  ${cliLine(dir, `ack ${n.alarmId}`)}`);
  if (FILE_KINDS.has(n.kind)) {
    const path = pathOf(n.detail);
    out.push(`Accept:       ${cliLine(dir, `accept ${shellWord(n.host)}${path ? ` ${shellWord(path)}` : ' PATH'}`)}`);
    if (expectedFrom(n) && n.group) {
      out.unshift(`Expected: sample host ${safeText(expectedFrom(n)!)} of group ${safeText(n.group)} has accepted this very content.`);
      out.push(`Accept group: ${cliLine(dir, `accept --group ${shellWord(n.group)} ${path ? shellWord(path) : 'PATH'}`)}`);
    }
  }
  if (n.kind === 'port-opened') out.push(`Accept port:  ${cliLine(dir, `accept ${shellWord(n.host)} ${shellWord(n.subject)}`)}`);
  if (n.kind === 'identity-clone' || n.kind === 'agent-tampered' || n.kind === 'agent-impersonated') out.push(`Revoke:       ${cliLine(dir, `revoke ${shellWord(n.host)}`)}`);
  const note = maintenanceNote(n.kind);
  if (note) out.push(`Maintenance:  ${cliLine(dir, `maintenance ${shellWord(n.host)} --for 1h`)}`, `              (${note})`);
  return out;
}

function pathOf(detail: unknown): string | null {
  if (detail && typeof detail === 'object' && typeof (detail as { path?: unknown }).path === 'string') return (detail as { path: string }).path;
  return null;
}

/** The mail for one alarm opening or resolution. */
export function formatNoticeMail(n: AlarmNotice, dir: string): MailText {
  const when = new Date(n.at).toISOString();
  const what =
    n.action === 'open'
      ? `Alarm ${n.alarmId} opened on ${safeText(n.host)} at ${when}.`
      : n.action === 'remind'
        ? `Reminder: alarm ${n.alarmId} on ${safeText(n.host)} has been open for ${openFor(n)} and nobody has acknowledged it.`
        : `Alarm ${n.alarmId} on ${safeText(n.host)} resolved at ${when} (opened ${new Date(n.openedAt).toISOString()}).`;
  const text = [
    what,
    '',
    `Severity: ${n.severity}`,
    `Host:     ${safeText(n.host)}${n.group ? ` (group ${safeText(n.group)})` : ''}`,
    `Kind:     ${safeText(n.kind)}`,
    `Subject:  ${clip(n.subject)}`,
    `Opened:   ${new Date(n.openedAt).toISOString()}`,
    ...(n.ackedAt ? [`Acked:    ${new Date(n.ackedAt).toISOString()}`] : []),
    '',
    'Detail (old and new values):',
    ...detailLines(n.detail),
    '',
    'What to do:',
    ...actionLines(n, dir).map((l) => (l ? `  ${l}` : '')),
    '',
    '-- ',
    n.action === 'remind'
      ? 'Tripwarden: a critical alarm still open and not acknowledged is mailed again every `remind` (server.yml); `ack` it to stop the reminders.'
      : 'Tripwarden: one mail per alarm opening and resolution.',
  ].join('\n');
  return { subject: noticeSubject(n), text };
}

/** The sample host an `expected` alarm matched, from its detail; null for any other alarm. */
export function expectedFrom(n: AlarmNotice): string | null {
  const e = (n.detail as { expected?: { sample?: unknown } } | null)?.expected;
  return typeof e?.sample === 'string' ? e.sample : null;
}

function outlierNote(n: AlarmNotice): string {
  return (n.detail as { fleet?: { outlier?: unknown } } | null)?.fleet?.outlier === true ? ' OUTLIER: no other host of its group has this content' : '';
}

/** Expected openings folded: one line per group and path with the number of hosts (none: no lines). */
function expectedFoldLines(ns: AlarmNotice[], dir: string): string[] {
  const folds = new Map<string, { group: string; path: string; samples: Set<string>; hosts: string[] }>();
  for (const n of ns) {
    const sample = n.action === 'open' ? expectedFrom(n) : null;
    if (!sample) continue;
    const key = `${n.group ?? ''}\0${n.subject}`;
    let f = folds.get(key);
    if (!f) folds.set(key, (f = { group: n.group ?? '?', path: n.subject, samples: new Set(), hosts: [] }));
    f.samples.add(sample);
    if (!f.hosts.includes(n.host)) f.hosts.push(n.host);
  }
  if (!folds.size) return [];
  return [
    'Expected changes (the content a sample host of the group accepted), one line per path:',
    ...[...folds.values()].map(
      (f) =>
        `  [warning] ${clip(f.path, 200)}: ${f.hosts.length} host(s) of group ${safeText(f.group)} took the content of sample ${safeText([...f.samples].join(', '))}: ` +
        `${safeText(f.hosts.slice(0, 10).join(', '))}${f.hosts.length > 10 ? `, … ${f.hosts.length - 10} more` : ''}`,
    ),
    `  Accept them all: ${cliLine(dir, 'accept --group GROUP PATH')}`,
    '',
  ];
}

/** An event's action in a digest line, padded to one width. */
const DIGEST_ACTION: Record<AlarmNotice['action'], string> = { open: 'OPEN    ', resolve: 'RESOLVED', remind: 'REMINDER' };

/** The digest for an alarm storm: one mail listing every event, worst first. */
export function formatDigestMail(ns: AlarmNotice[], dir: string): MailText {
  const worst: Severity = ns.some((n) => n.severity === 'critical' && n.action !== 'resolve') ? 'critical' : 'warning';
  const hosts = new Set(ns.map((n) => n.host));
  const byKind = new Map<string, { open: number; resolve: number; remind: number }>();
  for (const n of ns) {
    const k = byKind.get(n.kind) ?? { open: 0, resolve: 0, remind: 0 };
    k[n.action]++;
    byKind.set(n.kind, k);
  }
  const sorted = [...ns].sort(
    (a, b) =>
      (a.action === 'resolve' ? 1 : 0) - (b.action === 'resolve' ? 1 : 0) ||
      (a.severity === 'critical' ? 0 : 1) - (b.severity === 'critical' ? 0 : 1) ||
      a.host.localeCompare(b.host) ||
      a.eventId - b.eventId,
  );
  const opened = ns.filter((n) => n.action === 'open').length;
  const resolved = ns.filter((n) => n.action === 'resolve').length;
  const reminded = ns.length - opened - resolved;
  const text = [
    `${ns.length} alarm events on ${hosts.size} hosts between ${new Date(Math.min(...ns.map((n) => n.at))).toISOString()} and ${new Date(Math.max(...ns.map((n) => n.at))).toISOString()}.`,
    'Too many to mail one by one: this digest lists them all; the next digest follows within a minute if more come.',
    '',
    'By kind:',
    ...[...byKind].map(([k, c]) => `  ${k}: ${c.open} opened, ${c.resolve} resolved${c.remind ? `, ${c.remind} reminders (still open)` : ''}`),
    '',
    ...expectedFoldLines(ns, dir),
    'Events (opened first, critical first):',
    ...sorted
      .filter((n) => !(n.action === 'open' && expectedFrom(n)))
      .map(
        (n) =>
          `  #${n.alarmId} ${DIGEST_ACTION[n.action]} [${n.severity}] ${safeText(n.host)} ${safeText(n.kind)}: ${clip(n.subject, 200)}${outlierNote(n)} (${new Date(n.at).toISOString()})`,
      ),
    '',
    'What to do:',
    `  List open alarms:  ${cliLine(dir, 'alarms --open')}`,
    `  Acknowledge one:   ${cliLine(dir, 'ack ALARM_ID')}`,
    '  Many hosts missing at once usually means a network split or the server host itself: check that first.',
  ].join('\n');
  return { subject: headerSafe(`[${worst}] digest: ${opened} alarms opened, ${resolved} resolved${reminded ? `, ${reminded} reminders` : ''} on ${hosts.size} hosts`, 200), text };
}

/** The body of `test-mail`. */
export function formatTestMail(now: number, serverName: string): MailText {
  return {
    subject: `[test] ${headerSafe(serverName)} tripwarden test mail`,
    text: `This is a test message from the Tripwarden server on ${serverName}, sent at ${new Date(now).toISOString()}.\nIf you can read it, alarm mail reaches this address.\n`,
  };
}
