/**
 * verifyChain behaviours PKITS does not cover well: EKU, path building (order, decoys, loops,
 * work bound), anchors, input handling. Certificates are generated per run (fixtures.ts).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { isGatehouseError } from '../../../src/errors/index.js';
import {
  parseCertificate,
  parseCrl,
  type VerifyOptions,
  type VerifyResult,
  verifyChain,
} from '../../../src/pki/verify/index.js';
import {
  AT,
  assertFails,
  assertOk,
  type CryptoKeyPair,
  generateKeys,
  type Issued,
  issue,
  makeCa,
  makeCrl,
  makeLeaf,
  makeRoot,
  nameConstraints,
  OID_ANY_EKU,
  OID_CLIENT_AUTH,
  OID_SERVER_AUTH,
  x509,
} from './fixtures.js';

const SHARED_KEY_ID = '0102030405060708090a0b0c0d0e0f1011121314';

const subjects = (r: VerifyResult) => (r.ok ? r.chain.map((c) => c.x509.subject) : []);

describe('verifyChain', () => {
  let root: Issued;
  let ca: Issued;
  let leaf: Issued;
  const base = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({
    leaf: leaf.der,
    intermediates: [ca.der],
    trustAnchors: [root.der],
    at: AT,
    ...over,
  });

  before(async () => {
    root = await makeRoot();
    ca = await makeCa(root, { name: 'CN=Issuing CA' });
    leaf = await makeLeaf(ca, { name: 'CN=alice' });
  });

  describe('path building', () => {
    it('validates leaf ← intermediate ← anchor and returns the chain leaf first', () => {
      const r = verifyChain(base({ requiredEku: OID_CLIENT_AUTH }));
      assertOk(r);
      assert.deepEqual(subjects(r), ['CN=alice', 'CN=Issuing CA', 'CN=Test Root']);
    });

    it('accepts a leaf issued directly by the anchor', async () => {
      const direct = await makeLeaf(root, { name: 'CN=direct' });
      const r = verifyChain(base({ leaf: direct.pem, intermediates: [] }));
      assertOk(r);
      assert.deepEqual(subjects(r), ['CN=direct', 'CN=Test Root']);
    });

    it('builds the path whatever the order of the intermediates, ignoring unrelated ones', async () => {
      const ca2 = await makeCa(ca, { name: 'CN=Sub CA' });
      const deep = await makeLeaf(ca2, { name: 'CN=deep' });
      const unrelatedRoot = await makeRoot({ name: 'CN=Other Root' });
      const unrelated = await makeCa(unrelatedRoot, { name: 'CN=Other CA' });
      const r = verifyChain(
        base({ leaf: deep.der, intermediates: [deep.der, unrelated.pem, ca.pem, ca2.der, ca.der] }),
      );
      assertOk(r);
      assert.deepEqual(subjects(r), ['CN=deep', 'CN=Sub CA', 'CN=Issuing CA', 'CN=Test Root']);
    });

    it('accepts a PEM bundle as an intermediates entry', () => {
      assertOk(verifyChain(base({ intermediates: [`${ca.pem}\n${root.pem}`] })));
    });

    it('fails untrusted when no issuer is known, naming the certificate', async () => {
      assertFails(verifyChain(base({ intermediates: [] })), 'untrusted', 'CN=alice');
      const otherRoot = await makeRoot({ name: 'CN=Other Root' });
      assertFails(verifyChain(base({ trustAnchors: [otherRoot.der] })), 'untrusted', 'CN=Issuing CA');
    });

    it('fails bad_signature when the named issuer did not sign the certificate', async () => {
      const impostor = await makeCa(root, { name: 'CN=Issuing CA' }); // same name, other key
      const forged = await makeLeaf(impostor, { name: 'CN=mallory', noKeyIds: true });
      assertFails(verifyChain(base({ leaf: forged.der })), 'bad_signature', 'CN=mallory');
    });

    it('tries the next candidate when the preferred path fails validation', async () => {
      const keys = await generateKeys();
      // Two certificates for the same CA name and key; the first listed cannot be processed.
      const odd = new x509.Extension('1.3.6.1.4.1.55555.1', true, new Uint8Array([5, 0]));
      const broken = await makeCa(root, { name: 'CN=Twin CA', keys, extensions: [odd] });
      const good = await makeCa(root, { name: 'CN=Twin CA', keys });
      const user = await makeLeaf(good, { name: 'CN=bob' });
      const r = verifyChain(base({ leaf: user.der, intermediates: [broken.der, good.der] }));
      assertOk(r);
      assert.equal(r.chain[1]!.fingerprint, parseCertificate(good.der).fingerprint);
      const only = verifyChain(base({ leaf: user.der, intermediates: [broken.der] }));
      assertFails(only, 'unknown_critical_extension', 'CN=Twin CA');
    });

    it('prefers a currently valid issuer over an expired one with the same name and key', async () => {
      const keys = await generateKeys();
      const expired = await makeCa(root, { name: 'CN=Renewed CA', keys, notAfter: new Date('2025-06-01Z') });
      const renewed = await makeCa(root, { name: 'CN=Renewed CA', keys });
      const user = await makeLeaf(renewed, { name: 'CN=bob' });
      const r = verifyChain(base({ leaf: user.der, intermediates: [expired.der, renewed.der] }));
      assertOk(r);
      assert.equal(r.work, 2, 'the current certificate is tried first');
      const old = verifyChain(base({ leaf: user.der, intermediates: [expired.der] }));
      assertFails(old, 'expired', 'CN=Renewed CA');
    });

    it('accepts a self-signed leaf that is itself a trust anchor', async () => {
      const device = await makeRoot({
        name: 'CN=pinned device',
        ca: false,
        keyUsage: x509.KeyUsageFlags.digitalSignature,
        eku: [OID_CLIENT_AUTH],
      });
      const r = verifyChain({
        leaf: device.der,
        trustAnchors: [device.der],
        at: AT,
        requiredEku: OID_CLIENT_AUTH,
      });
      assertOk(r);
      assert.equal(r.chain.length, 2);
    });
  });

  describe('validity', () => {
    it('fails expired for an expired intermediate, naming it', async () => {
      const old = await makeCa(root, { name: 'CN=Old CA', notAfter: new Date('2025-12-31T00:00:00Z') });
      const user = await makeLeaf(old);
      assertFails(verifyChain(base({ leaf: user.der, intermediates: [old.der] })), 'expired', 'CN=Old CA');
    });

    it('fails not_yet_valid for a leaf from the future', async () => {
      const future = await makeLeaf(ca, { name: 'CN=future', notBefore: new Date('2026-06-01T00:00:00Z') });
      assertFails(verifyChain(base({ leaf: future.der })), 'not_yet_valid', 'CN=future');
    });

    it('refuses an expired trust anchor (strict), which RFC 5280 alone treats as trust input', async () => {
      const keys = await generateKeys();
      const expiredRoot = await makeRoot({ name: 'CN=Aged Root', keys, notAfter: new Date('2025-06-01Z') });
      const user = await makeLeaf(expiredRoot);
      const options = { leaf: user.der, trustAnchors: [expiredRoot.der], at: AT };
      assertFails(verifyChain(options), 'anchor_expired', 'CN=Aged Root');
      assertOk(verifyChain({ ...options, profile: 'rfc5280' }));
    });
  });

  describe('extended key usage', () => {
    it('accepts a leaf whose EKU lists the required purpose; anyExtendedKeyUsage only under rfc5280', async () => {
      assertOk(verifyChain(base({ requiredEku: OID_CLIENT_AUTH })));
      const any = await makeLeaf(ca, { eku: [OID_ANY_EKU] });
      assertFails(
        verifyChain(base({ leaf: any.der, requiredEku: OID_CLIENT_AUTH })),
        'any_eku_not_client_auth',
      );
      assertOk(verifyChain(base({ leaf: any.der, requiredEku: OID_CLIENT_AUTH, profile: 'rfc5280' })));
    });

    it('fails eku_mismatch when the leaf EKU lacks the purpose', async () => {
      const server = await makeLeaf(ca, { name: 'CN=server', eku: [OID_SERVER_AUTH] });
      assertFails(
        verifyChain(base({ leaf: server.der, requiredEku: OID_CLIENT_AUTH })),
        'eku_mismatch',
        'CN=server',
      );
    });

    it('fails eku_mismatch when the leaf has no EKU at all and one is required', async () => {
      const bare = await makeLeaf(ca, { name: 'CN=bare', eku: undefined });
      assertFails(
        verifyChain(base({ leaf: bare.der, requiredEku: OID_CLIENT_AUTH })),
        'eku_mismatch',
        'CN=bare',
      );
      assertOk(verifyChain(base({ leaf: bare.der }))); // no requirement, no check
    });

    it('fails eku_mismatch when an intermediate EKU excludes the purpose', async () => {
      const serverCa = await makeCa(root, { name: 'CN=Server-only CA', eku: [OID_SERVER_AUTH] });
      const user = await makeLeaf(serverCa);
      const opts = base({ leaf: user.der, intermediates: [serverCa.der], requiredEku: OID_CLIENT_AUTH });
      assertFails(verifyChain(opts), 'eku_mismatch', 'CN=Server-only CA');
      assertOk(verifyChain({ ...opts, requiredEku: undefined }));
    });

    it('accepts intermediates whose EKU includes the purpose or anyExtendedKeyUsage', async () => {
      for (const eku of [[OID_CLIENT_AUTH, OID_SERVER_AUTH], [OID_ANY_EKU]]) {
        const constrained = await makeCa(root, { name: 'CN=Client CA', eku });
        const user = await makeLeaf(constrained);
        assertOk(
          verifyChain(
            base({ leaf: user.der, intermediates: [constrained.der], requiredEku: OID_CLIENT_AUTH }),
          ),
        );
      }
    });
  });

  describe('extensions and constraints', () => {
    const unknown = (critical: boolean) =>
      new x509.Extension('1.3.6.1.4.1.55555.1', critical, new Uint8Array([5, 0]));

    it('fails unknown_critical_extension for a critical extension it cannot process', async () => {
      const odd = await makeLeaf(ca, { name: 'CN=odd', extensions: [unknown(true)] });
      assertFails(verifyChain(base({ leaf: odd.der })), 'unknown_critical_extension', 'CN=odd');
      const oddCa = await makeCa(root, { name: 'CN=Odd CA', extensions: [unknown(true)] });
      const user = await makeLeaf(oddCa);
      assertFails(
        verifyChain(base({ leaf: user.der, intermediates: [oddCa.der] })),
        'unknown_critical_extension',
        'CN=Odd CA',
      );
    });

    it("ignores unknown non-critical extensions; an anchor's critical one only under rfc5280", async () => {
      const fine = await makeLeaf(ca, { extensions: [unknown(false)] });
      assertOk(verifyChain(base({ leaf: fine.der })));
      const oddRoot = await makeRoot({ name: 'CN=Odd Root', extensions: [unknown(true)] });
      const user = await makeLeaf(oddRoot);
      const options = { leaf: user.der, trustAnchors: [oddRoot.der], at: AT };
      assertFails(verifyChain(options), 'anchor_unknown_critical_extension', 'CN=Odd Root');
      assertOk(verifyChain({ ...options, profile: 'rfc5280' }));
    });

    it('fails not_ca for an issuer without basicConstraints cA', async () => {
      const notCa = await issue(root, {
        name: 'CN=Not a CA',
        ca: false,
        keyUsage: x509.KeyUsageFlags.keyCertSign,
      });
      const noBc = await issue(root, { name: 'CN=No BC', noBasicConstraints: true });
      for (const issuer of [notCa, noBc]) {
        const user = await makeLeaf(issuer);
        assertFails(
          verifyChain(base({ leaf: user.der, intermediates: [issuer.der] })),
          'not_ca',
          issuer.name,
        );
      }
    });

    it('fails key_usage for a CA whose keyUsage lacks keyCertSign', async () => {
      const crlOnly = await makeCa(root, { name: 'CN=CRL-only CA', keyUsage: x509.KeyUsageFlags.cRLSign });
      const user = await makeLeaf(crlOnly);
      assertFails(
        verifyChain(base({ leaf: user.der, intermediates: [crlOnly.der] })),
        'key_usage',
        'CN=CRL-only CA',
      );
    });

    it('enforces pathLenConstraint, including the anchor’s', async () => {
      const pl0 = await makeCa(root, { name: 'CN=PathLen0 CA', pathLen: 0 });
      const sub = await makeCa(pl0, { name: 'CN=Too Deep CA' });
      const user = await makeLeaf(sub);
      const opts = base({ leaf: user.der, intermediates: [pl0.der, sub.der] });
      assertFails(verifyChain(opts), 'path_length_exceeded', 'CN=Too Deep CA');
      assertOk(verifyChain({ ...opts, leaf: (await makeLeaf(pl0)).der }));

      const strictRoot = await makeRoot({ name: 'CN=Strict Root', pathLen: 0 });
      const strictCa = await makeCa(strictRoot, { name: 'CN=Under Strict Root' });
      const strictUser = await makeLeaf(strictCa);
      const strict = {
        leaf: strictUser.der,
        intermediates: [strictCa.der],
        trustAnchors: [strictRoot.der],
        at: AT,
      };
      assertFails(verifyChain(strict), 'path_length_exceeded', 'CN=Under Strict Root');
    });

    it('enforces maxPathLength (number of intermediates)', async () => {
      const sub = await makeCa(ca, { name: 'CN=Sub CA' });
      const user = await makeLeaf(sub);
      const opts = base({ leaf: user.der, intermediates: [ca.der, sub.der] });
      assertOk(verifyChain({ ...opts, maxPathLength: 2 }));
      assertFails(verifyChain({ ...opts, maxPathLength: 1 }), 'path_length_exceeded');
    });

    it('enforces dNSName and iPAddress name constraints on subjectAltName', async () => {
      const nc = await makeCa(root, {
        name: 'CN=Constrained CA',
        extensions: [
          nameConstraints({
            permittedDns: ['example.com'],
            excludedDns: ['bad.example.com'],
            permittedIp: ['10.0.0.0/8'],
          }),
        ],
      });
      const check = async (san: { type: 'dns' | 'ip'; value: string }[]) => {
        const user = await makeLeaf(nc, { name: 'CN=named', san });
        return verifyChain(base({ leaf: user.der, intermediates: [nc.der] }));
      };
      assertOk(
        await check([
          { type: 'dns', value: 'a.example.com' },
          { type: 'ip', value: '10.1.2.3' },
        ]),
      );
      assertFails(await check([{ type: 'dns', value: 'example.org' }]), 'name_constraints', 'example.org');
      assertFails(
        await check([{ type: 'dns', value: 'notexample.com' }]),
        'name_constraints',
        'notexample.com',
      );
      assertFails(await check([{ type: 'dns', value: 'x.bad.example.com' }]), 'name_constraints', 'excluded');
      assertFails(await check([{ type: 'ip', value: '192.168.0.1' }]), 'name_constraints', 'iPAddress');
    });
  });

  describe('revocation', () => {
    let rootCrl: string;
    let caCrl: string;
    before(async () => {
      rootCrl = await makeCrl(root);
      caCrl = await makeCrl(ca);
    });

    it('accepts a path when every certificate is covered by a current CRL', () => {
      assertOk(verifyChain(base({ crls: [rootCrl, caCrl] })));
    });

    it('fails revoked for a revoked leaf', async () => {
      const crl = await makeCrl(ca, {
        revoked: [{ serial: leaf.cert.serialNumber, reason: x509.X509CrlReason.keyCompromise }],
      });
      assertFails(verifyChain(base({ crls: [rootCrl, crl] })), 'revoked', 'CN=alice.*keyCompromise');
    });

    it('fails revoked for a revoked intermediate', async () => {
      const crl = await makeCrl(root, { revoked: [{ serial: ca.cert.serialNumber }] });
      assertFails(verifyChain(base({ crls: [crl, caCrl] })), 'revoked', 'CN=Issuing CA');
    });

    it('fails crl_invalid when CRLs are given but one issuer has none (crls: [] included)', () => {
      assertFails(verifyChain(base({ crls: [caCrl] })), 'crl_invalid', 'CN=Issuing CA');
      assertFails(verifyChain(base({ crls: [] })), 'crl_invalid');
    });

    it('fails crl_invalid for an expired CRL', async () => {
      const stale = await makeCrl(ca, {
        thisUpdate: new Date('2025-11-01Z'),
        nextUpdate: new Date('2025-12-01Z'),
      });
      assertFails(verifyChain(base({ crls: [rootCrl, stale] })), 'crl_invalid', 'expired');
    });

    it('fails crl_invalid for a CRL from the future or without nextUpdate', async () => {
      const early = await makeCrl(ca, {
        thisUpdate: new Date('2026-01-16Z'),
        nextUpdate: new Date('2026-02-16Z'),
      });
      assertFails(verifyChain(base({ crls: [rootCrl, early] })), 'crl_invalid', 'not yet valid');
      const endless = await makeCrl(ca, { nextUpdate: null });
      assertFails(verifyChain(base({ crls: [rootCrl, endless] })), 'crl_invalid', 'no nextUpdate');
    });

    it('fails key_usage when the CRL issuer lacks cRLSign', async () => {
      const noCrlSign = await makeCa(root, {
        name: 'CN=No CRLSign CA',
        keyUsage: x509.KeyUsageFlags.keyCertSign,
      });
      const user = await makeLeaf(noCrlSign);
      const crl = await makeCrl(noCrlSign);
      const r = verifyChain(base({ leaf: user.der, intermediates: [noCrlSign.der], crls: [rootCrl, crl] }));
      assertFails(r, 'key_usage', 'cRLSign');
    });

    it('uses a CRL signed by another CA certificate of the issuer (key rollover) under the strict profile', async () => {
      // The CA's new key signs its CRLs: the signer is a CA certificate, which is right for a CRL
      // signer; the strict profile's leaf rules (ca_as_leaf) are for client certificates only.
      const rolled = await makeCa(root, { name: 'CN=Issuing CA' });
      const intermediates = [ca.der, rolled.der];
      const clean = await makeCrl(rolled);
      const revoking = await makeCrl(rolled, { revoked: [{ serial: leaf.cert.serialNumber }] });
      for (const profile of ['strict', 'rfc5280'] as const) {
        assertOk(verifyChain(base({ intermediates, crls: [rootCrl, clean], profile })));
        assertFails(verifyChain(base({ intermediates, crls: [rootCrl, revoking], profile })), 'revoked');
      }
    });

    it('ignores CRLs when the crls option is absent', async () => {
      const crl = await makeCrl(ca, { revoked: [{ serial: leaf.cert.serialNumber }] });
      assertOk(verifyChain(base()));
      assertFails(verifyChain(base({ crls: [rootCrl, crl] })), 'revoked');
    });
  });

  describe('bounded work with decoys', () => {
    const DECOYS = 100;
    let decoys: Issued[];
    let real: Issued;
    let user: Issued;

    before(async () => {
      // 100 CAs sharing the real intermediate's name and key identifier, each with its own key,
      // all issued by the root: AKI/SKI cannot tell them apart.
      decoys = await Promise.all(
        Array.from({ length: DECOYS }, () => makeCa(root, { name: 'CN=Popular CA', ski: SHARED_KEY_ID })),
      );
      real = await makeCa(root, { name: 'CN=Popular CA', ski: SHARED_KEY_ID });
      user = await makeLeaf(real, { name: 'CN=needle', aki: SHARED_KEY_ID });
    });

    it('finds the real issuer among 100 same-name decoys using AKI/SKI, with little work', async () => {
      const realWithIds = await makeCa(root, { name: 'CN=Popular CA' });
      const withIds = await Promise.all(
        Array.from({ length: DECOYS }, () => makeCa(root, { name: 'CN=Popular CA' })),
      );
      const needle = await makeLeaf(realWithIds, { name: 'CN=needle' });
      const r = verifyChain(
        base({ leaf: needle.der, intermediates: [...withIds, realWithIds].map((c) => c.der) }),
      );
      assertOk(r);
      assert.ok(r.work <= 3, `expected the AKI match to be tried first, spent ${r.work} work units`);
    });

    it('stops with path_too_complex when indistinguishable decoys exhaust the budget', () => {
      const started = performance.now();
      const r = verifyChain(base({ leaf: user.der, intermediates: [...decoys, real].map((c) => c.der) }));
      assertFails(r, 'path_too_complex', 'CN=needle');
      assert.equal(r.work, 100, 'default budget is 100 work units');
      assert.ok(performance.now() - started < 5000, 'generous bound: the budget keeps this fast');
    });

    it('still finds the real path among indistinguishable decoys when the budget allows', () => {
      const r = verifyChain(
        base({ leaf: user.der, intermediates: [...decoys, real].map((c) => c.der), maxWork: 200 }),
      );
      assertOk(r);
      assert.equal(r.chain[1]!.fingerprint, parseCertificate(real.der).fingerprint);
      assert.ok(r.work <= DECOYS + 2, `spent ${r.work}`);
    });

    it('bounds cross-certificate loops that never reach an anchor', async () => {
      // Ten keys, each cross-certified by every other under the same name: every ordering of the
      // keys is a candidate path (10! of them), none reaches the anchor.
      const keys = await Promise.all(Array.from({ length: 10 }, () => generateKeys()));
      const node = (k: CryptoKeyPair): Issued => ({ name: 'CN=Loop CA', keys: k }) as Issued;
      const mesh: Issued[] = [];
      for (const subject of keys) {
        for (const signer of keys) {
          if (subject !== signer)
            mesh.push(
              await makeCa(node(signer), {
                name: 'CN=Loop CA',
                keys: subject,
                ski: SHARED_KEY_ID,
                aki: SHARED_KEY_ID,
              }),
            );
        }
      }
      const victim = await makeLeaf(node(keys[0]!), { name: 'CN=looped', aki: SHARED_KEY_ID });
      const started = performance.now();
      const r = verifyChain(base({ leaf: victim.der, intermediates: mesh.map((c) => c.der) }));
      assertFails(r, 'path_too_complex');
      assert.equal(r.work, 100);
      assert.ok(performance.now() - started < 5000);
    });
  });

  describe('inputs', () => {
    it('accepts DER, PEM, X509Certificate and pre-parsed certificates and CRLs', async () => {
      const crl = await makeCrl(ca);
      const rootCrl = await makeCrl(root);
      const r = verifyChain({
        leaf: new X509Certificate(leaf.der),
        intermediates: [parseCertificate(ca.pem)],
        trustAnchors: [root.pem],
        crls: [parseCrl(crl), rootCrl],
        at: AT,
      });
      assertOk(r);
      assert.equal(r.chain[0]!.x509.subject, 'CN=alice');
    });

    it('reports malformed input as a failure, naming the input', () => {
      assertFails(verifyChain(base({ leaf: Buffer.from('not a certificate') })), 'malformed', 'leaf');
      assertFails(verifyChain(base({ leaf: `${leaf.pem}${ca.pem}` })), 'malformed', 'leaf');
      assertFails(
        verifyChain(
          base({ intermediates: [ca.der, '-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----'] }),
        ),
        'malformed',
        'intermediate #2',
      );
      assertFails(verifyChain(base({ crls: [Buffer.from([0x30, 0x00])] })), 'malformed', 'CRL #1');
    });

    it('parseCertificate throws GatehouseError invalid_certificate', () => {
      assert.throws(
        () => parseCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])),
        (err) => isGatehouseError(err) && err.code === 'invalid_certificate',
      );
    });

    it("the decoders' own checks are invalid_certificate / invalid_crl, saying what does not decode", async () => {
      const parseError = (code: string, message: string) => (err: unknown) =>
        isGatehouseError(err) && err.code === code && err.message === message;
      const emptySan = await makeLeaf(ca, {
        name: 'CN=empty SAN',
        extensions: [new x509.Extension('2.5.29.17', false, Buffer.from([0x30, 0x00]))],
      });
      assert.throws(
        () => parseCertificate(emptySan.der),
        parseError('invalid_certificate', 'certificate cannot be parsed: subjectAltName is empty'),
      );
      const twoSans = await makeLeaf(ca, {
        name: 'CN=two SANs',
        san: [{ type: 'dns', value: 'a.example' }],
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'b.example' }])],
      });
      assert.throws(
        () => parseCertificate(twoSans.der),
        parseError(
          'invalid_certificate',
          'certificate cannot be parsed: certificate has two 2.5.29.17 extensions',
        ),
      );
      const badNumber = await x509.X509CrlGenerator.create({
        issuer: ca.name,
        thisUpdate: new Date('2026-01-01T00:00:00Z'),
        nextUpdate: new Date('2026-02-01T00:00:00Z'),
        signingKey: ca.keys.privateKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [new x509.Extension('2.5.29.20', false, Buffer.from([0x02, 0x00]))],
      });
      assert.throws(
        () => parseCrl(new Uint8Array(badNumber.rawData)),
        parseError('invalid_crl', 'CRL cannot be parsed: expected an INTEGER'),
      );
      assertFails(
        verifyChain(base({ leaf: emptySan.der })),
        'malformed',
        'leaf: certificate cannot be parsed: subjectAltName is empty',
      );
    });

    it('throws TypeError for programming errors', () => {
      assert.throws(() => verifyChain(base({ at: new Date('nope') })), TypeError);
      assert.throws(() => verifyChain(base({ maxWork: -1 })), TypeError);
    });
  });
});
