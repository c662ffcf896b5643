import { generateKeyPairSync, sign } from 'node:crypto';

/** One DER element: tag, definite length, content (X.690). */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const len: number[] = [];
  for (let n = body.length; n > 0; n = Math.floor(n / 256)) len.unshift(n % 256);
  const head = body.length < 0x80 ? [tag, body.length] : [tag, 0x80 | len.length, ...len];
  return Buffer.concat([Buffer.from(head), body]);
}

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const NULL = 0x05;
const OID = 0x06;
const UTF8_STRING = 0x0c;
/** [0] IMPLICIT, constructed: the request's (empty) attributes. */
const ATTRIBUTES = 0xa0;
/** 2.5.4.3, commonName. */
const OID_COMMON_NAME = Buffer.from('550403', 'hex');
/** 1.2.840.113549.1.1.11, sha256WithRSAEncryption. */
const OID_SHA256_WITH_RSA = Buffer.from('2a864886f70d01010b', 'hex');

/**
 * Makes the agent's key pair and a PKCS#10 request for it (RFC 2986) with
 * Node's OpenSSL alone. The private key stays on this host; only the request
 * travels, and the server reads nothing from it but the public key and the
 * proof of possession (the subject is ignored: the token names the host).
 * Built here rather than with node-forge, which was 41 % of the agent's
 * bundle for these few bytes of DER.
 */
export function createKeyAndCsr(commonName: string): { keyPem: string; csrPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const subject = der(SEQUENCE, der(SET, der(SEQUENCE, der(OID, OID_COMMON_NAME), der(UTF8_STRING, Buffer.from(commonName.slice(0, 64), 'utf8')))));
  const info = der(SEQUENCE, der(INTEGER, Buffer.from([0])), subject, publicKey, der(ATTRIBUTES));
  // RSASSA-PKCS1-v1_5 with SHA-256: what the algorithm identifier below names.
  const signature = sign('sha256', info, privateKey);
  const request = der(SEQUENCE, info, der(SEQUENCE, der(OID, OID_SHA256_WITH_RSA), der(NULL)), der(BIT_STRING, Buffer.from([0]), signature));
  const body = request
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return { keyPem: privateKey, csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n` };
}
