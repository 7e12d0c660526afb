// Server-side TPM attestation (src/devices/attestation) against a real swtpm: EKs, AKs and
// certifications made by the TPM through the agent's tpm2-tools wrapper, then checked by the
// server's pure code; MakeCredential by the server, ActivateCredential by the TPM.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  activateCredential,
  createAttestationKey,
  createEndorsement,
} from '../../src/agent/attestation/tpm-tools.js';
import {
  checkDeviceKeyPublic,
  makeCredential,
  objectName,
  parseAttest,
  parseTpm2bPublic,
  spkiDer,
  TPM_ALG,
  TPMA_OBJECT,
  verifyCertification,
  verifyEk,
} from '../../src/devices/attestation/index.js';
import { isGatehouseError } from '../../src/errors/index.js';
import { skipUnlessTools, tempDir } from '../helpers/tools.js';
import {
  ATTEST_TPM_TOOLS,
  type AttestTpm,
  bootAttestTpm,
  certifyTpmKey,
  createEkCa,
  type EkCa,
  tpmDeviceKey,
} from '../helpers/tpm-attest.js';

const code = (expected: string) => (err: unknown) => {
  assert.ok(isGatehouseError(err), `expected a GatehouseError, got ${String(err)}`);
  assert.equal(err.code, expected, err.message);
  return true;
};

describe(
  'TPM attestation: server-side verification with swtpm',
  { skip: skipUnlessTools(...ATTEST_TPM_TOOLS) },
  () => {
    let ca: EkCa;
    let otherCa: EkCa;
    let tpm: AttestTpm;
    let other: AttestTpm;
    const cleanup: (() => Promise<void>)[] = [];
    const t0 = { after: (fn: () => Promise<void>) => void cleanup.push(fn) };

    before(async () => {
      ca = await createEkCa(t0);
      otherCa = await createEkCa(t0);
      tpm = await bootAttestTpm(t0, ca, 'a');
      other = await bootAttestTpm(t0, otherCa, 'b');
      trustSync = await trust(ca);
    });
    after(async () => {
      for (const fn of cleanup.reverse()) await fn();
    });

    let trustSync: Awaited<ReturnType<typeof trust>>;
    const trust = async (c: EkCa, pins: string[] = []) => ({
      roots: await c.roots(),
      intermediates: await c.intermediates(),
      pinnedSpkiSha256: new Set(pins),
      at: new Date(),
    });

    test('the EK certificate from NV chains to the accepted swtpm root and certifies the EK', async () => {
      assert.ok(tpm.ek.ekCertificate, 'swtpm_setup --create-ek-cert wrote the EK certificate');
      const ek = parseTpm2bPublic(tpm.ek.ekPublic);
      assert.equal(ek.type, 'rsa');
      assert.equal(ek.rsa?.bits, 2048);
      const r = verifyEk(ek, tpm.ek.ekCertificate, await trust(ca));
      assert.equal(r.via, 'certificate');
    });

    test('an EK certificate from a root not accepted → ek_untrusted', async () => {
      const ek = parseTpm2bPublic(other.ek.ekPublic);
      assert.throws(() => verifyEk(ek, other.ek.ekCertificate, trustSync), code('ek_untrusted'));
    });

    test("an EK certificate for another TPM's EK → ek_mismatch", async () => {
      const ek = parseTpm2bPublic(tpm.ek.ekPublic);
      assert.throws(() => verifyEk(ek, other.ek.ekCertificate, trustSync), code('ek_mismatch'));
    });

    test('no EK certificate: trusted only when the EK public key hash is pinned', async () => {
      const ek = parseTpm2bPublic(tpm.ek.ekPublic);
      assert.throws(() => verifyEk(ek, undefined, trustSync), code('ek_untrusted'));
      const pinned = verifyEk(ek, undefined, await trust(ca, [spkiHash(ek)]));
      assert.equal(pinned.via, 'pin');
    });

    test('a signing key offered as EK → ek_attributes_invalid', async () => {
      const ak = parseTpm2bPublic(tpm.ak.akPublic);
      assert.throws(() => verifyEk(ak, undefined, trustSync), code('ek_attributes_invalid'));
    });

    test('MakeCredential (RSA EK) → ActivateCredential in the same TPM returns the secret', async () => {
      const ek = parseTpm2bPublic(tpm.ek.ekPublic);
      const akName = objectName(parseTpm2bPublic(tpm.ak.akPublic));
      const secret = randomBytes(32);
      const cred = makeCredential(ek, akName, secret);
      const got = await activateCredential(tpm.opts, {
        akContext: tpm.ak.akContext,
        ekContext: tpm.ek.ekContext,
        ...cred,
      });
      assert.deepEqual(got, secret);
    });

    test('MakeCredential (ECC P-256 EK) → ActivateCredential returns the secret', async (t) => {
      const opts = { ...tpm.opts, workDir: await tempDir(t, 'gatehouse-attest-ecc-') };
      await mkdir(opts.workDir, { recursive: true });
      const eccEk = await createEndorsement(opts, 'ecc');
      const ek = parseTpm2bPublic(eccEk.ekPublic);
      assert.equal(ek.type, 'ecc');
      const ak = await createAttestationKey(opts, eccEk.ekContext);
      const secret = randomBytes(20);
      const cred = makeCredential(ek, objectName(parseTpm2bPublic(ak.akPublic)), secret);
      const got = await activateCredential(opts, {
        akContext: ak.akContext,
        ekContext: eccEk.ekContext,
        ...cred,
      });
      assert.deepEqual(got, secret);
    });

    test('AK from another TPM than the EK: neither TPM can activate the credential', async () => {
      // The attacker shows TPM A's EK (certificate) but an AK of TPM B.
      const ekA = parseTpm2bPublic(tpm.ek.ekPublic);
      const akB = parseTpm2bPublic(other.ak.akPublic);
      const cred = makeCredential(ekA, objectName(akB), randomBytes(32));
      // TPM B holds the AK but cannot decrypt a seed made for A's EK.
      await assert.rejects(
        activateCredential(other.opts, {
          akContext: other.ak.akContext,
          ekContext: other.ek.ekContext,
          ...cred,
        }),
        code('tpm_error'),
      );
      // TPM A decrypts the seed, but its own AK has another name: the integrity check fails.
      await assert.rejects(
        activateCredential(tpm.opts, { akContext: tpm.ak.akContext, ekContext: tpm.ek.ekContext, ...cred }),
        code('tpm_error'),
      );
    });

    test('CertifyCreation over the nonce verifies; the key is the CSR key', async () => {
      const key = await tpmDeviceKey(tpm, 'good');
      const nonce = randomBytes(32);
      const { attest, signature } = await certifyTpmKey(tpm, key, nonce);
      const keyPub = parseTpm2bPublic(key.public);
      const parsed = verifyCertification({
        ak: parseTpm2bPublic(tpm.ak.akPublic),
        key: keyPub,
        attest,
        signature,
        nonce,
        csrSpki: spkiDer(keyPub),
      });
      assert.deepEqual(parsed.extraData, nonce);
      assert.deepEqual(parsed.objectName, objectName(keyPub));

      const base = {
        ak: parseTpm2bPublic(tpm.ak.akPublic),
        key: keyPub,
        attest,
        signature,
        nonce,
        csrSpki: spkiDer(keyPub),
      };
      // A replayed attestation under a new challenge, or a foreign nonce.
      assert.throws(
        () => verifyCertification({ ...base, nonce: randomBytes(32) }),
        code('attestation_nonce_mismatch'),
      );
      // Any tampered byte of TPMS_ATTEST (here: the certified name's last byte).
      const tampered = Buffer.from(attest);
      tampered.writeUInt8(tampered.readUInt8(tampered.length - 40) ^ 1, tampered.length - 40);
      assert.throws(
        () => verifyCertification({ ...base, attest: tampered }),
        code('attestation_signature_invalid'),
      );
      // Signed by another TPM's AK.
      assert.throws(
        () => verifyCertification({ ...base, ak: parseTpm2bPublic(other.ak.akPublic) }),
        code('attestation_signature_invalid'),
      );
      // The CSR carries another key (e.g. a software key) than the one certified.
      const soft = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
        type: 'spki',
        format: 'der',
      });
      assert.throws(() => verifyCertification({ ...base, csrSpki: soft }), code('attested_key_mismatch'));
      // Another key's public area presented as the certified one.
      const second = await tpmDeviceKey(tpm, 'second');
      assert.throws(
        () => verifyCertification({ ...base, key: parseTpm2bPublic(second.public) }),
        code('attestation_name_mismatch'),
      );
    });

    test('a duplicable key (fixedTPM and fixedParent clear) → key_duplicable', async () => {
      const key = await tpmDeviceKey(tpm, 'dup', 'sensitivedataorigin|userwithauth|sign');
      const keyPub = parseTpm2bPublic(key.public);
      assert.equal(keyPub.attributes & TPMA_OBJECT.fixedTPM, 0);
      const nonce = randomBytes(32);
      const { attest, signature } = await certifyTpmKey(tpm, key, nonce);
      assert.throws(
        () =>
          verifyCertification({
            ak: parseTpm2bPublic(tpm.ak.akPublic),
            key: keyPub,
            attest,
            signature,
            nonce,
            csrSpki: spkiDer(keyPub),
          }),
        code('key_duplicable'),
      );
    });

    test('a restricted key (an AK) offered as the device key → key_not_signing', () => {
      const akPub = parseTpm2bPublic(tpm.ak.akPublic);
      assert.equal(akPub.scheme?.scheme, TPM_ALG.ECDSA);
      assert.throws(() => checkDeviceKeyPublic(akPub), code('key_not_signing'));
    });
  },
);

describe('TPM structures: malformed input', () => {
  test('truncated or trailing bytes → attestation_malformed', () => {
    assert.throws(
      () => parseTpm2bPublic(Buffer.from([0x00, 0x10, 0x00, 0x01])),
      code('attestation_malformed'),
    );
    assert.throws(() => parseAttest(Buffer.from([0xff, 0x54, 0x43])), code('attestation_malformed'));
    const a = fakeAttest(Buffer.alloc(4), Buffer.alloc(34));
    assert.doesNotThrow(() => parseAttest(a));
    assert.throws(() => parseAttest(Buffer.concat([a, Buffer.from([0])])), code('attestation_malformed'));
  });
  test('not TPM-generated, or not a certification → refused', () => {
    const a = fakeAttest(Buffer.alloc(4), Buffer.alloc(34));
    const badMagic = Buffer.from(a);
    badMagic[0] = 0;
    assert.throws(() => parseAttest(badMagic), code('attestation_not_tpm_generated'));
    const quote = Buffer.from(a);
    quote.writeUInt16BE(0x8018, 4); // TPM_ST_ATTEST_QUOTE
    assert.throws(() => parseAttest(quote), code('attestation_wrong_type'));
  });
});

const spkiHash = (pub: ReturnType<typeof parseTpm2bPublic>) =>
  createHash('sha256').update(spkiDer(pub)).digest('hex');

/** A syntactically valid TPMS_ATTEST (ATTEST_CERTIFY) with the given extraData and name. */
function fakeAttest(extraData: Buffer, name: Buffer): Buffer {
  const b2 = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const head = Buffer.alloc(6);
  head.writeUInt32BE(0xff544347, 0);
  head.writeUInt16BE(0x8017, 4);
  return Buffer.concat([
    head,
    b2(Buffer.alloc(34)),
    b2(extraData),
    Buffer.alloc(17),
    Buffer.alloc(8),
    b2(name),
    b2(Buffer.alloc(34)),
  ]);
}
