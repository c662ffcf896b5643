/**
 * The private CA: issues the server's and the agents' certificates with
 * node-forge. Forge only issues here; every verification (chains, expiry,
 * revocation) is OpenSSL's, through Node's `tls` and `X509Certificate`.
 */

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { serverError } from '../errors.ts';

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

const DAY = 86_400_000;

/** Creates an RSA key pair (Node's generator is much faster than forge's). */
export function generateRsaKeyPair(bits = 2048): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** A random positive 128-bit serial number in hex (RFC 5280 allows up to 20 octets). */
export function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x10; // positive, and no leading zero octet to be stripped
  return b.toString('hex');
}

function setValidity(cert: forge.pki.Certificate, notBefore: Date, notAfter: Date): void {
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
}

/** Creates the self-signed CA (RSA 3072, 20 years). */
export function createCa(commonName: string, now = new Date()): KeyAndCert {
  const { privateKeyPem, publicKeyPem } = generateRsaKeyPair(3072);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = newSerial();
  setValidity(cert, new Date(now.getTime() - DAY), new Date(now.getTime() + 20 * 365 * DAY));
  const attrs = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'Tripwarden' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  return { keyPem: privateKeyPem, certPem: forge.pki.certificateToPem(cert) };
}

export interface IssueOptions {
  ca: KeyAndCert;
  publicKeyPem: string;
  commonName: string;
  /** DNS names and IP addresses for the subjectAltName. */
  names: string[];
  usage: 'server' | 'client';
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
}

/** Issues a leaf certificate signed by the CA; returns its PEM. */
export function issueCertificate(o: IssueOptions): string {
  const caCert = forge.pki.certificateFromPem(o.ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(o.publicKeyPem);
  cert.serialNumber = o.serial ?? newSerial();
  const now = Date.now();
  setValidity(cert, o.notBefore ?? new Date(now - 3_600_000), o.notAfter ?? new Date(now + 825 * DAY));
  cert.setSubject([{ name: 'commonName', value: o.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = o.names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: o.usage === 'server', clientAuth: o.usage === 'client' },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(o.ca.keyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** The common name a certificate request asks for, or null when it names none or is not a request. */
export function csrCommonName(csrPem: string): string | null {
  try {
    const cn = forge.pki.certificationRequestFromPem(csrPem).subject.getField('CN') as { value?: unknown } | null;
    return typeof cn?.value === 'string' ? forge.util.decodeUtf8(cn.value) : null;
  } catch {
    return null;
  }
}

/**
 * Issues an agent's client certificate from its CSR. The subject the CSR asks
 * for is ignored: the identity is the host the enrollment token was made for.
 * The CSR's self-signature is checked only as proof that the agent holds the key.
 */
export function signAgentCsr(ca: KeyAndCert, csrPem: string, host: string, serial: string): string {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch {
    throw serverError('TW_CSR_INVALID', 'the certificate request is not a PEM PKCS#10 request');
  }
  let verified = false;
  try {
    verified = !!csr.publicKey && csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw serverError('TW_CSR_INVALID', 'the certificate request signature does not verify');
  const rsa = csr.publicKey as forge.pki.rsa.PublicKey;
  if (rsa.n.bitLength() < 2048) throw serverError('TW_CSR_INVALID', 'the agent key is shorter than 2048 bits');
  const publicKeyPem = forge.pki.publicKeyToPem(rsa);
  const names = /^[A-Za-z0-9.-]+$/.test(host) ? [host] : [];
  return issueCertificate({ ca, publicKeyPem, commonName: host, names, usage: 'client', serial });
}
