/**
 * Issues many agent client certificates quickly for the load benchmark.
 *
 * `server/trust/ca.ts` signs with node-forge, whose pure-JS RSA takes tens of ms per
 * signature with the 3072-bit CA key: 10,000 agents would take minutes. Here
 * forge still builds the certificate (same extensions as `issueCertificate`
 * for `usage: 'client'`), but the signature over the to-be-signed bytes is
 * OpenSSL's (`crypto.sign`), about 1 ms. All agents share one RSA key pair
 * (generating 10,000 keys would cost more than the whole run); each has its
 * own certificate, CN and serial, which is all the gateway looks at.
 */

import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import forge from 'node-forge';
import { type KeyAndCert, newSerial } from '../../server/trust/ca.ts';

export class FastIssuer {
  private readonly caCert: forge.pki.Certificate;
  private readonly caKey: KeyObject;
  private readonly publicKey: forge.pki.PublicKey;
  private readonly akid: string;

  constructor(ca: KeyAndCert, agentPublicKeyPem: string) {
    this.caCert = forge.pki.certificateFromPem(ca.certPem);
    this.caKey = createPrivateKey(ca.keyPem);
    this.publicKey = forge.pki.publicKeyFromPem(agentPublicKeyPem);
    this.akid = this.caCert.generateSubjectKeyIdentifier().getBytes();
  }

  /** A client certificate for `host` with the given serial (hex), PEM. */
  issue(host: string, serial = newSerial()): { certPem: string; serial: string } {
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.publicKey;
    cert.serialNumber = serial;
    const now = Date.now();
    cert.validity.notBefore = new Date(now - 3_600_000);
    cert.validity.notAfter = new Date(now + 825 * 86_400_000);
    cert.setSubject([{ name: 'commonName', value: host }]);
    cert.setIssuer(this.caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: false, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }] },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.akid },
    ]);
    // forge's sign(key, md) feeds the TBS bytes to md.update and stores key.sign(md):
    // collect the bytes and let OpenSSL do the RSA work.
    let tbs = '';
    const md = {
      algorithm: 'sha256',
      update: (b: string) => {
        tbs += b;
      },
    } as unknown as forge.md.MessageDigest;
    const key = { sign: () => sign('sha256', Buffer.from(tbs, 'binary'), this.caKey).toString('binary') } as unknown as forge.pki.rsa.PrivateKey;
    cert.sign(key, md);
    return { certPem: forge.pki.certificateToPem(cert), serial };
  }
}
