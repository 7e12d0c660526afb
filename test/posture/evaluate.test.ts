// The pure client certificate check (src/posture/evaluate.ts) on real certificates made with
// openssl: every reason, the CN templates, intermediates found beside the leaf, key evidence.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type CertificateCheck,
  checkOf,
  evaluateCertificates,
  expandCommonName,
  type FoundCertificate,
  type KeyEvidence,
} from '../../src/posture/index.js';
import { type CaFiles, makeLeafCert, makeRootCa, makeRsaKey, makeSignedCert } from '../helpers/openssl.js';

const spki = (keyPath: string) =>
  createPublicKey(createPrivateKey(readFileSync(keyPath))).export({ type: 'spki', format: 'der' });

describe('posture: the client certificate check', () => {
  let dir: string;
  let root: CaFiles;
  let other: CaFiles;
  let intermediate: CaFiles;
  // Evaluated at the time of each call: fixtures made by openssl start at the second they are made.
  const device = {
    serialNumber: 'SN-42',
    hostname: 'laptop.corp',
    get now() {
      return new Date();
    },
  };
  const found = (
    cert: { pem: string; keyPath: string },
    key: KeyEvidence | 'own' = 'own',
    intermediates: string[] = [],
  ): FoundCertificate => ({
    source: 'test',
    pem: cert.pem,
    intermediates,
    key: key === 'own' ? { kind: 'present', spkiDer: spki(cert.keyPath) } : key,
  });
  const check = (over: Partial<CertificateCheck> = {}): CertificateCheck => ({
    caCertificates: [root.pem],
    cn: '${serial_number}',
    extendedKeyUsage: ['clientAuth'],
    checkPrivateKey: true,
    requiredPolicies: [],
    ...over,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-posture-eval-'));
    root = await makeRootCa(dir, 'root');
    other = await makeRootCa(dir, 'other');
    intermediate = await makeSignedCert(dir, 'intermediate', root);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a certificate that meets every check passes and is named', async () => {
    const leaf = await makeLeafCert(dir, 'pass', root, { cn: 'SN-42' });
    const r = evaluateCertificates([found(leaf)], check(), device);
    assert.equal(r.success, true, r.details.join('; '));
    assert.deepEqual(r.reasons, []);
    assert.equal(r.considered?.certificate.subject, 'CN=SN-42');
    assert.match(r.considered?.certificate.fingerprint_sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.match(r.considered?.certificate.serial_number ?? '', /^[0-9a-f]+$/);
  });

  test('nothing found is not_found', () => {
    assert.deepEqual(evaluateCertificates([], check(), device).reasons, ['not_found']);
  });

  test('wrong CA is untrusted; expired reads expired, not untrusted', async () => {
    const foreign = await makeLeafCert(dir, 'foreign', other, { cn: 'SN-42' });
    assert.deepEqual(evaluateCertificates([found(foreign)], check(), device).reasons, ['untrusted']);
    const old = await makeLeafCert(dir, 'old', root, {
      cn: 'SN-42',
      startDate: '20200101000000Z',
      endDate: '20200201000000Z',
    });
    const r = evaluateCertificates([found(old)], check(), device);
    assert.deepEqual(r.reasons, ['expired']);
    assert.match(r.details.join(' '), /expired on 2020-02-01/);
    const future = await makeLeafCert(dir, 'future', root, {
      cn: 'SN-42',
      startDate: '20990101000000Z',
      endDate: '20990201000000Z',
    });
    assert.deepEqual(evaluateCertificates([found(future)], check(), device).reasons, ['not_yet_valid']);
    const oldForeign = await makeLeafCert(dir, 'old-foreign', other, {
      cn: 'SN-42',
      startDate: '20200101000000Z',
      endDate: '20200201000000Z',
    });
    assert.deepEqual(evaluateCertificates([found(oldForeign)], check(), device).reasons, [
      'expired',
      'untrusted',
    ]);
  });

  test('the strict profile: a weak key or a CA certificate is untrusted, the rule named in the details', async () => {
    const weakKey = await makeRsaKey(dir, 'weak', 1024);
    const weak = await makeLeafCert(dir, 'weak', root, { cn: 'SN-42', keyPath: weakKey });
    const r = evaluateCertificates([found(weak)], check(), device);
    assert.deepEqual(r.reasons, ['untrusted']);
    assert.match(r.details.join(' '), /chain \(weak_key\): .*RSA 1024-bit/);
    const caLeaf = await makeSignedCert(dir, 'SN-42', root);
    const c = evaluateCertificates([found(caLeaf)], check({ extendedKeyUsage: [] }), device);
    assert.deepEqual(c.reasons, ['untrusted']);
    assert.match(c.details.join(' '), /chain \(ca_as_leaf\)/);
  });

  describe('required_policies: the path must be valid for one of them (RFC 5280 §6.1, explicit policy)', () => {
    const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
    const PIV_CARD_AUTH = '2.16.840.1.101.3.2.1.3.17';
    const OTHER = '1.3.6.1.4.1.55555.1.1';
    const ANY_POLICY = '2.5.29.32.0';
    // [what, policies the leaf asserts, required, issued under the intermediate, expected reasons]
    const cases: [string, string[], string[], boolean, string[]][] = [
      ['the required policy', [PIV_AUTH], [PIV_AUTH], false, []],
      ['one of the required policies', [PIV_AUTH], [OTHER, PIV_AUTH], false, []],
      ['no requirement, no policy', [], [], false, []],
      ['anyPolicy (RFC 5280 §6.1.5 (g): it stands for every policy)', [ANY_POLICY], [PIV_AUTH], false, []],
      ['another policy', [PIV_CARD_AUTH], [PIV_AUTH], false, ['policy_required']],
      ['no certificatePolicies', [], [PIV_AUTH], false, ['policy_required']],
      [
        'the required policy under an intermediate without certificatePolicies',
        [PIV_AUTH],
        [PIV_AUTH],
        true,
        ['policy_required'],
      ],
    ];
    for (const [what, policies, required, underIntermediate, reasons] of cases) {
      test(`a leaf asserting ${what}: ${reasons.length === 0 ? 'passes' : reasons.join(', ')}`, async () => {
        const name = `policy-${cases.findIndex((c) => c[0] === what)}`;
        const issuer = underIntermediate ? intermediate : root;
        const leaf = await makeLeafCert(dir, name, issuer, { cn: 'SN-42', policies });
        const beside = underIntermediate ? [intermediate.pem] : [];
        const r = evaluateCertificates(
          [found(leaf, 'own', beside)],
          check({ requiredPolicies: required }),
          device,
        );
        assert.deepEqual(r.reasons, reasons, r.details.join('; '));
        if (reasons.length > 0) assert.match(r.details.join(' '), /chain \(policy_required\): /);
      });
    }

    test('a certificate of another CA is untrusted, not policy_required', async () => {
      const foreign = await makeLeafCert(dir, 'policy-foreign', other, { cn: 'SN-42', policies: [PIV_AUTH] });
      const r = evaluateCertificates([found(foreign)], check({ requiredPolicies: [PIV_AUTH] }), device);
      assert.deepEqual(r.reasons, ['untrusted']);
    });

    test('only a certificate asserting the policy counts: the device passes with it', async () => {
      const plain = await makeLeafCert(dir, 'policy-plain', root, { cn: 'SN-42' });
      const piv = await makeLeafCert(dir, 'policy-piv', root, { cn: 'SN-42', policies: [PIV_AUTH] });
      const r = evaluateCertificates(
        [found(plain), found(piv)],
        check({ requiredPolicies: [PIV_AUTH] }),
        device,
      );
      assert.equal(r.success, true, r.details.join('; '));
      assert.equal(r.considered?.found.pem, piv.pem);
    });

    test("checkOf carries a v2 rule's required_policies", () => {
      const input = {
        certificate_id: '00000000-0000-4000-8000-000000000001',
        operating_system: 'linux' as const,
        check_private_key: false,
        required_policies: [PIV_AUTH],
      };
      assert.deepEqual(checkOf({ type: 'client_certificate_v2', input }, []).requiredPolicies, [PIV_AUTH]);
    });
  });

  test('CN templates: ${serial_number} and ${hostname}, exact and case-insensitive', async () => {
    const bySerial = await makeLeafCert(dir, 'by-serial', root, { cn: 'sn-42' });
    const byHost = await makeLeafCert(dir, 'by-host', root, { cn: 'DEVICE-LAPTOP.CORP' });
    const longer = await makeLeafCert(dir, 'longer', root, { cn: 'SN-420' });
    assert.equal(evaluateCertificates([found(bySerial)], check(), device).success, true);
    assert.equal(
      evaluateCertificates([found(byHost)], check({ cn: 'device-${hostname}' }), device).success,
      true,
    );
    assert.deepEqual(evaluateCertificates([found(longer)], check(), device).reasons, ['cn_mismatch']);
    assert.deepEqual(
      evaluateCertificates([found(bySerial)], check(), { now: new Date(), hostname: 'h' }).reasons,
      ['fact_not_registered'],
      'no serial number: a template naming it matches nothing, and says why',
    );
    assert.equal(expandCommonName('${serial_number}-${hostname}', device), 'SN-42-laptop.corp');
    assert.equal(expandCommonName('${user}', device), undefined);
    // No cn in the rule: any common name.
    assert.equal(evaluateCertificates([found(longer)], check({ cn: undefined }), device).success, true);
  });

  test('each requested EKU must be present', async () => {
    const clientOnly = await makeLeafCert(dir, 'client-only', root, { cn: 'SN-42', eku: ['clientAuth'] });
    const emailOnly = await makeLeafCert(dir, 'email-only', root, { cn: 'SN-42', eku: ['emailProtection'] });
    const none = await makeLeafCert(dir, 'no-eku', root, { cn: 'SN-42', eku: [] });
    const both = check({ extendedKeyUsage: ['clientAuth', 'emailProtection'] });
    assert.deepEqual(evaluateCertificates([found(clientOnly)], both, device).reasons, ['eku_missing']);
    assert.match(evaluateCertificates([found(clientOnly)], both, device).details.join(), /emailProtection/);
    assert.deepEqual(evaluateCertificates([found(emailOnly)], both, device).reasons, ['eku_missing']);
    assert.match(evaluateCertificates([found(emailOnly)], both, device).details.join(), /clientAuth/);
    assert.deepEqual(evaluateCertificates([found(none)], check(), device).reasons, ['eku_missing']);
    const all = await makeLeafCert(dir, 'both-ekus', root, {
      cn: 'SN-42',
      eku: ['clientAuth', 'emailProtection'],
    });
    assert.equal(evaluateCertificates([found(all)], both, device).success, true);
  });

  test('the private key: absent, not the certificate’s, proved, proof invalid; ignored unless checked', async () => {
    const leaf = await makeLeafCert(dir, 'keyed', root, { cn: 'SN-42' });
    const stranger = await makeLeafCert(dir, 'stranger', root, { cn: 'SN-42' });
    assert.deepEqual(evaluateCertificates([found(leaf, { kind: 'absent' })], check(), device).reasons, [
      'no_private_key',
    ]);
    assert.deepEqual(
      evaluateCertificates(
        [found(leaf, { kind: 'present', spkiDer: spki(stranger.keyPath) })],
        check(),
        device,
      ).reasons,
      ['key_mismatch'],
    );
    assert.equal(evaluateCertificates([found(leaf, { kind: 'proved' })], check(), device).success, true);
    assert.deepEqual(
      evaluateCertificates([found(leaf, { kind: 'proof_invalid' })], check(), device).reasons,
      ['key_proof_invalid'],
    );
    assert.equal(
      evaluateCertificates([found(leaf, { kind: 'absent' })], check({ checkPrivateKey: false }), device)
        .success,
      true,
    );
  });

  test('an intermediate found beside the leaf completes the path; without it the leaf is untrusted', async () => {
    const leaf = await makeLeafCert(dir, 'under-intermediate', intermediate, { cn: 'SN-42' });
    assert.equal(
      evaluateCertificates([found(leaf, 'own', [intermediate.pem])], check(), device).success,
      true,
    );
    assert.deepEqual(evaluateCertificates([found(leaf)], check(), device).reasons, ['untrusted']);
  });

  test('some certificate passing is enough; otherwise the closest one is reported with all its reasons', async () => {
    const bad = await makeLeafCert(dir, 'bad-everything', other, { cn: 'nope', eku: [] });
    const near = await makeLeafCert(dir, 'near', root, { cn: 'nope' });
    const good = await makeLeafCert(dir, 'good', root, { cn: 'SN-42' });
    assert.equal(evaluateCertificates([found(bad), found(near), found(good)], check(), device).success, true);
    const r = evaluateCertificates([found(bad, { kind: 'absent' }), found(near)], check(), device);
    assert.equal(r.success, false);
    assert.deepEqual(r.reasons, ['cn_mismatch']);
    assert.equal(r.considered?.certificate.subject, 'CN=nope');
    const all = evaluateCertificates([found(bad, { kind: 'absent' })], check(), device);
    assert.deepEqual(all.reasons, ['cn_mismatch', 'eku_missing', 'no_private_key', 'untrusted']);
  });

  test('the older client_certificate type checks the CA and CN only', () => {
    const c = checkOf({ type: 'client_certificate', input: { certificate_id: 'x', cn: 'a' } }, ['pem']);
    assert.deepEqual(c, {
      caCertificates: ['pem'],
      cn: 'a',
      extendedKeyUsage: [],
      checkPrivateKey: false,
      requiredPolicies: [],
    });
  });
});
