// asn1-x509 (2.11) decodes a CRL without nextUpdate as if it had no entries and no extensions:
// such a CRL is refused where it could be trusted (attaching it to a CA); with nextUpdate,
// everything is seen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DER_TAG, derTime, derTlv, derUnsignedInteger } from '../../../src/pki/der.js';
import { GatehouseError } from '../../../src/errors/index.js';
import { parseAttachedCrl } from '../../../src/pki/attached-crl.js';
import { parseCrl } from '../../../src/pki/verify/parse.js';

const ECDSA_SHA256 = derTlv(DER_TAG.sequence, Buffer.from('06082a8648ce3d040302', 'hex'));
const ISSUER = derTlv(DER_TAG.sequence, [
  derTlv(
    0x31,
    derTlv(DER_TAG.sequence, [Buffer.from('0603550403', 'hex'), derTlv(0x0c, Buffer.from('CRL CA'))]),
  ),
]);
const extension = (oidHex: string, critical: boolean, value: Buffer) =>
  derTlv(DER_TAG.sequence, [
    derTlv(0x06, Buffer.from(oidHex, 'hex')),
    ...(critical ? [Buffer.from('0101ff', 'hex')] : []),
    derTlv(DER_TAG.octetString, value),
  ]);
const DELTA_CRL_INDICATOR = extension('551d1b', true, derUnsignedInteger(Buffer.from([5])));
const UNKNOWN_CRITICAL = extension('2a0304', true, Buffer.from('0500', 'hex'));
const CRL_NUMBER = extension('551d14', false, derUnsignedInteger(Buffer.from([9])));

function crl(nextUpdate: boolean, extensions: Buffer[]): Buffer {
  const entry = derTlv(DER_TAG.sequence, [derUnsignedInteger(Buffer.from([0x2a])), derTime(new Date())]);
  const tbs = derTlv(DER_TAG.sequence, [
    derUnsignedInteger(Buffer.from([1])),
    ECDSA_SHA256,
    ISSUER,
    derTime(new Date()),
    ...(nextUpdate ? [derTime(new Date(Date.now() + 3_600_000))] : []),
    derTlv(DER_TAG.sequence, entry),
    derTlv(DER_TAG.context0, derTlv(DER_TAG.sequence, extensions)),
  ]);
  // The signature is not checked by parsing; a placeholder ECDSA-Sig-Value will do.
  return derTlv(DER_TAG.sequence, [
    tbs,
    ECDSA_SHA256,
    derTlv(DER_TAG.bitString, Buffer.from('003006020101020101', 'hex')),
  ]);
}

test('with nextUpdate: the delta indicator, critical extensions, number and entries are all seen', () => {
  const delta = parseCrl(crl(true, [CRL_NUMBER, DELTA_CRL_INDICATOR]));
  assert.equal(delta.deltaBase, 5n);
  assert.equal(delta.crlNumber, 9n);
  assert.equal(delta.entries.size, 1);
  assert.deepEqual(parseCrl(crl(true, [UNKNOWN_CRITICAL])).unsupportedExtensions, ['1.2.3.4']);
});

test('without nextUpdate a CRL cannot be attached (its entries and extensions would go unseen)', () => {
  for (const extensions of [[CRL_NUMBER], [DELTA_CRL_INDICATOR], [UNKNOWN_CRITICAL]]) {
    assert.throws(
      () => parseAttachedCrl(crl(false, extensions), []),
      (err: unknown) =>
        err instanceof GatehouseError && err.code === 'invalid_crl' && /nextUpdate/.test(err.message),
    );
  }
});
