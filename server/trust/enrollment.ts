import { certFingerprint } from '../../shared/cert.ts';
import type { Clock } from '../../shared/clock.ts';
import type { EnrollRequest, EnrollResponse } from '../../shared/protocol.ts';
import { RESET_AGENT_EXE_SQL } from '../baselines/agent-exe.ts';
import { serverError } from '../errors.ts';
import type { CommandQueue } from '../storage/command-queue.ts';
import type { SqlDb } from '../storage/engine.ts';
import { csrCommonName, type KeyAndCert, newSerial, signAgentCsr } from './ca.ts';
import { ANY_HOST, checkHostName, redeemToken } from './tokens.ts';

export interface EnrollmentDeps {
  sql: SqlDb;
  ca: KeyAndCert;
  clock: Clock;
  commands: CommandQueue;
}

/**
 * Enrolls a host: spends the token, signs the agent's CSR for the token's host (a rollout
 * token's: the name the CSR asks for, if no host has it),
 * and records the certificate's serial as the only one accepted for that host.
 * With a `--replace` token this revokes the previous certificate, and a live
 * connection made with it is closed.
 */
export async function enrollHost(d: EnrollmentDeps, req: EnrollRequest): Promise<EnrollResponse> {
  const now = d.clock.now();
  let closed = false;
  const res = await d.sql.tx(async (tx): Promise<EnrollResponse> => {
    const grant = await redeemToken(tx, req.token, now);
    if (grant.host === ANY_HOST) {
      // A rollout token: the host names itself, but may not take a name already enrolled.
      const asked = csrCommonName(req.csr);
      if (asked === null) throw serverError('TW_HOST_NAME', 'the certificate request names no host, which a token for any host needs');
      checkHostName(asked);
      if (await tx.get('SELECT host FROM hosts WHERE host = ?', [asked])) {
        throw serverError('TW_HOST_EXISTS', `host ${asked} is already enrolled; a token for any host enrolls new hosts only (a reinstall needs \`token ${asked} --replace\`)`);
      }
      grant.host = asked;
    }
    const existing = await tx.get('SELECT host FROM hosts WHERE host = ?', [grant.host]);
    if (existing && !grant.replace) {
      throw serverError('TW_HOST_EXISTS', `host ${grant.host} was enrolled after this token was made (a reinstall needs \`token ${grant.host} --replace\`)`);
    }
    const serial = newSerial();
    const certificate = signAgentCsr(d.ca, req.csr, grant.host, serial);
    const sha = certFingerprint(certificate);
    if (existing) {
      await tx.run(
        `UPDATE hosts SET grp = ?, state = 'active', status = 'pending', status_changed_at = ?, cert_serial = ?, cert_sha256 = ?,
         enrolled_at = ?, last_seen = NULL, late_at = NULL, due_at = NULL, boot_id = NULL, last_seq = NULL, maintenance_until = NULL
         WHERE host = ?`,
        [grant.group, now, serial, sha, now, grant.host],
      );
      await tx.run(RESET_AGENT_EXE_SQL, [grant.host]);
      await d.commands.enqueue('close-host', grant.host, 'replaced', now, tx);
      closed = true;
    } else {
      await tx.run(`INSERT INTO hosts (host, grp, status, status_changed_at, cert_serial, cert_sha256, enrolled_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)`, [
        grant.host,
        grant.group,
        now,
        serial,
        sha,
        now,
      ]);
    }
    return { host: grant.host, certificate, ca: d.ca.certPem };
  });
  // After the commit, so the instance holding the replaced host's connection finds the command when woken.
  if (closed) await d.commands.wake();
  return res;
}
