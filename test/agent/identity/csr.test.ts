import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import forge from 'node-forge';
import { createKeyAndCsr } from '../../../agent/identity/csr.ts';
import { tempDir } from '../../helpers/temp.ts';

test("the agent's PKCS#10 request parses and verifies, in node-forge (the server's reader) and in OpenSSL, and carries the agent's public key", () => {
  // 70 characters, some of them two bytes in UTF-8: the name is cut to 64 characters, its DER length is long-form.
  const name = `hôte-${'é'.repeat(60)}-end`;
  const { keyPem, csrPem } = createKeyAndCsr(name);
  const csr = forge.pki.certificationRequestFromPem(csrPem);
  assert.ok(csr.verify(), 'self-signature verifies');
  assert.equal(csr.subject.getField('CN').value, forge.util.encodeUtf8(name.slice(0, 64)), 'UTF8String, cut to 64 characters');
  const inRequest = createPublicKey(forge.pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey));
  assert.ok(inRequest.equals(createPublicKey(keyPem)), 'the request is for the key the agent keeps');
  assert.equal(createPrivateKey(keyPem).asymmetricKeyDetails?.modulusLength, 2048);

  const dir = tempDir('tw-csr-');
  writeFileSync(join(dir, 'req.pem'), csrPem);
  const out = execFileSync('openssl', ['req', '-in', join(dir, 'req.pem'), '-noout', '-verify', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /Signature Algorithm: sha256WithRSAEncryption/);
  assert.match(out, /Public-Key: \(2048 bit\)/);
});
