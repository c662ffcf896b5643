import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commonName } from '../../../server/gateway/gateway.ts';

test("the host is the subject's one common name; none or several name no host", () => {
  assert.equal(commonName('CN=web-01'), 'web-01');
  assert.equal(commonName('O=Tripwarden\nCN=web-01.example.net'), 'web-01.example.net');
  assert.equal(commonName('O=Tripwarden'), '');
  assert.equal(commonName('CN=web-01\nCN=db-01'), '');
  assert.equal(commonName('OU=CN=web-01'), '', 'a CN inside another attribute is no common name');
});
