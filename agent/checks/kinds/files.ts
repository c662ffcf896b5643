import { shortHash } from '../../../shared/spool-chain.ts';
import { fileChanges } from '../../../shared/state-digest.ts';
import { FilesCheck } from '../files/files.ts';
import type { EntryKindSpec } from './kind.ts';

/**
 * Files: `files` and `gone` on the wire. A record is critical when a file of
 * class critical or self changed, or a critical path vanished. The agent does
 * not judge, so a fallback line says `file-changed` whether the file is new or
 * changed; the server decides against its baseline.
 */
export const FILE_KIND: EntryKindSpec<'file'> = {
  kind: 'file',
  check: (ctx) => new FilesCheck(ctx),
  field: 'files',
  goneField: 'gone',
  keyOf: (f) => f.path,
  critical: (files, gone, criticalPath) => files.some((f) => f.class !== 'normal') || gone.some(criticalPath),
  findings: (files, gone, rec) => [
    ...files.map((f) => ({
      kind: 'file-changed',
      subject: f.path,
      severity: f.class === 'normal' ? ('warning' as const) : ('critical' as const),
      extra: f.sha256 ? `sha256=${shortHash(f.sha256)}` : `type=${f.type}`,
    })),
    ...gone.map((g) => ({ kind: 'file-missing', subject: g, severity: rec.severity === 'critical' ? ('critical' as const) : ('warning' as const) })),
  ],
  differences(before, after) {
    const out = [];
    const b = new Map(before.map((f) => [f.path, f]));
    const a = new Map(after.map((f) => [f.path, f]));
    for (const [p, f] of a) {
      const old = b.get(p);
      if (!old) {
        out.push({ kind: 'file-added', subject: p, detail: f.type });
        continue;
      }
      const fields = Object.keys(fileChanges(old, f));
      if (fields.length) out.push({ kind: 'file-changed', subject: p, detail: fields.join(',') });
    }
    for (const p of b.keys()) if (!a.has(p)) out.push({ kind: 'file-missing', subject: p, detail: '' });
    return out;
  },
};
