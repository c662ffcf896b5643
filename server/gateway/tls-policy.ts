import { constants } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';

/**
 * TLS 1.2 suites the agents' endpoint accepts: ECDHE (forward secrecy) with an
 * AEAD cipher only. No static-RSA key exchange (a stolen server key would
 * decrypt recorded traffic), no CBC with SHA-1 MACs. TLS 1.3 keeps Node's
 * default suites, which are all AEAD.
 */
export const GATEWAY_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * The TLS settings of the agents' endpoint: TLS 1.2 or later, the suites
 * above in the server's order, and no renegotiation (a client-started
 * renegotiation costs the server a full handshake each time, and agents never
 * need one: TLS 1.3 has none).
 */
export const GATEWAY_TLS: Pick<TlsOptions, 'minVersion' | 'ciphers' | 'honorCipherOrder'> & Pick<SecureContextOptions, 'secureOptions'> = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: GATEWAY_CIPHERS,
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
});
