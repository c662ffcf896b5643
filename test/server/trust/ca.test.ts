import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createKeyAndCsr } from '../../../agent/identity/csr.ts';
import { createCa, newSerial, signAgentCsr } from '../../../server/trust/ca.ts';

const ca = createCa('Test CA');

test('an agent certificate is for the token host, whatever subject the CSR asked for, and verifies with OpenSSL', () => {
  const { csrPem } = createKeyAndCsr('i-claim-to-be-the-server');
  const serial = newSerial();
  const pem = signAgentCsr(ca, csrPem, 'web1', serial);
  const cert = new X509Certificate(pem);
  assert.equal(cert.subject, 'CN=web1');
  assert.equal(cert.serialNumber.toLowerCase(), serial);
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/, 'clientAuth EKU');
});

test('a CSR that is not PEM or whose signature fails is refused', () => {
  assert.throws(() => signAgentCsr(ca, 'nope', 'h', newSerial()), { code: 'TW_CSR_INVALID' });
  const { csrPem } = createKeyAndCsr('x');
  const b64 = csrPem
    .split('\n')
    .filter((l) => !l.startsWith('-----'))
    .join('');
  const der = Buffer.from(b64, 'base64');
  der[der.length - 5]! ^= 0xff; // flip a bit of the signature
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.throws(() => signAgentCsr(ca, bad, 'h', newSerial()), { code: 'TW_CSR_INVALID' });
});

test('the CA is a CA with a 20-year life and a positive serial', () => {
  const c = new X509Certificate(ca.certPem);
  assert.ok(c.ca);
  assert.ok(new Date(c.validTo).getTime() - Date.now() > 19 * 365 * 86_400_000);
  assert.match(newSerial(), /^[1-7][0-9a-f]{31}$/);
});
