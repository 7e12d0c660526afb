/**
 * The strict profile (src/pki/verify/profile.ts, docs/pkits.md "Profile"): one table row per rule,
 * each with a certificate made here and the exact refusal code; `rfc5280` accepts what is only a
 * profile rule, and per-anchor legacy allowances relax exactly what they name.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AccessDescription, AuthorityInfoAccessSyntax, GeneralName } from '@peculiar/asn1-x509';
import {
  type LegacyAllowances,
  MAX_NAME_CONSTRAINT_CHECKS,
  parseCertificate,
  verifyChain,
} from '../../../src/pki/verify/index.js';
import {
  AT,
  verifierFor,
  assertFails,
  assertOk,
  type Issued,
  makeCa,
  makeCrl,
  makeLeaf,
  makeRoot,
  nameConstraints,
  OID_ANY_EKU,
  OID_CLIENT_AUTH,
  x509,
} from './fixtures.js';

const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const OID_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';

const spkiOf = (type: 'rsa' | 'dsa' | 'ec' | 'ed25519', options: object = {}): Buffer =>
  // The overloads of generateKeyPairSync cannot take a union of types; the options match `type`.
  (generateKeyPairSync as (t: string, o: object) => { publicKey: KeyObject })(type, options).publicKey.export(
    {
      type: 'spki',
      format: 'der',
    },
  );

/** An EC P-256 public key with explicit curve parameters: only the openssl CLI makes those. */
function explicitP256Spki(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'gh-profile-'));
  try {
    const key = join(dir, 'key.pem');
    execFileSync('openssl', [
      'ecparam',
      '-name',
      'prime256v1',
      '-param_enc',
      'explicit',
      '-genkey',
      '-out',
      key,
    ]);
    execFileSync(
      'openssl',
      [
        'ec',
        '-in',
        key,
        '-pubout',
        '-outform',
        'DER',
        '-param_enc',
        'explicit',
        '-out',
        join(dir, 'pub.der'),
      ],
      {
        stdio: 'ignore',
      },
    );
    return readFileSync(join(dir, 'pub.der'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function criticalAia(): x509.Extension {
  const aia = new AuthorityInfoAccessSyntax([
    new AccessDescription({
      accessMethod: '1.3.6.1.5.5.7.48.2',
      accessLocation: new GeneralName({ uniformResourceIdentifier: 'http://ca.example/ca.crt' }),
    }),
  ]);
  return new x509.Extension('1.3.6.1.5.5.7.1.1', true, AsnConvert.serialize(aia));
}

/** A subjectAltName extension from raw GeneralNames DER (for encodings the builders refuse). */
const rawSan = (hex: string, critical = false) =>
  new x509.Extension('2.5.29.17', critical, Buffer.from(hex, 'hex'));

describe('strict profile', () => {
  let root: Issued;
  let ca: Issued;
  const verify = verifierFor(() => ({ root, ca }));

  before(async () => {
    root = await makeRoot();
    ca = await makeCa(root, { name: 'CN=Issuing CA' });
  });

  it('accepts a well-formed P-256 path (the baseline every row below departs from)', async () => {
    const r = verify(await makeLeaf(ca));
    assertOk(r);
  });

  describe('keys (weak_key)', () => {
    const rows: [string, () => Buffer, string][] = [
      ['RSA 512', () => spkiOf('rsa', { modulusLength: 512 }), 'weak_key'],
      ['RSA 1024', () => spkiOf('rsa', { modulusLength: 1024 }), 'weak_key'],
      ['RSA 2052 (not a multiple of 8)', () => spkiOf('rsa', { modulusLength: 2052 }), 'weak_key'],
      ['DSA 2048', () => spkiOf('dsa', { modulusLength: 2048, divisorLength: 256 }), 'weak_key'],
      ['ECDSA P-192', () => spkiOf('ec', { namedCurve: 'prime192v1' }), 'weak_key'],
      ['ECDSA secp256k1', () => spkiOf('ec', { namedCurve: 'secp256k1' }), 'weak_key'],
      ['ECDSA P-256 with explicit parameters', explicitP256Spki, 'weak_key'],
      ['RSA 2048', () => spkiOf('rsa', { modulusLength: 2048 }), 'ok'],
      ['RSA 3072', () => spkiOf('rsa', { modulusLength: 3072 }), 'ok'],
      ['ECDSA P-384', () => spkiOf('ec', { namedCurve: 'P-384' }), 'ok'],
      ['ECDSA P-521', () => spkiOf('ec', { namedCurve: 'P-521' }), 'ok'],
      ['Ed25519', () => spkiOf('ed25519'), 'ok'],
    ];
    for (const [what, spki, expected] of rows) {
      it(`${what} leaf: ${expected}`, async () => {
        const leaf = await makeLeaf(ca, { spki: spki() });
        const r = verify(leaf);
        if (expected === 'ok') assertOk(r);
        else {
          assertFails(r, expected);
          assertOk(verify(leaf, { profile: 'rfc5280' }));
        }
      });
    }

    it('refuses a weak intermediate and a weak anchor key; allow_rsa_1024 on that anchor only relaxes it', async () => {
      const rsaKeys = (bits: number) =>
        webcrypto.subtle.generateKey(
          {
            name: 'RSASSA-PKCS1-v1_5',
            modulusLength: bits,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: 'SHA-256',
          },
          true,
          ['sign', 'verify'],
        );
      const weakRoot = await makeRoot({ name: 'CN=RSA-1024 Root', keys: await rsaKeys(1024) });
      const leaf = await makeLeaf(weakRoot);
      const options = { leaf: leaf.der, trustAnchors: [weakRoot.der], at: AT };
      assertFails(verifyChain(options), 'weak_key');
      const allow = (fp: string, a: LegacyAllowances) => new Map([[fp, a]]);
      const fingerprint = parseCertificate(weakRoot.der).fingerprint;
      assertOk(verifyChain({ ...options, legacyAllowances: allow(fingerprint, { allowRsa1024: true }) }));
      // Granted to another anchor, or a different allowance: no effect.
      const other = parseCertificate(root.der).fingerprint;
      assertFails(
        verifyChain({ ...options, legacyAllowances: allow(other, { allowRsa1024: true }) }),
        'weak_key',
      );
      assertFails(
        verifyChain({ ...options, legacyAllowances: allow(fingerprint, { allowSha1Signatures: true }) }),
        'weak_key',
      );

      const weakCa = await makeCa(root, { name: 'CN=RSA-1024 CA', keys: await rsaKeys(1024) });
      const below = await makeLeaf(weakCa);
      assertFails(
        verifyChain({ leaf: below.der, intermediates: [weakCa.der], trustAnchors: [root.der], at: AT }),
        'weak_key',
      );
    });
  });

  describe('signatures (weak_signature)', () => {
    it('refuses SHA-1 on the leaf, on an intermediate and on a CRL; allow_sha1_signatures on the anchor accepts them', async () => {
      const sha1Leaf = await makeLeaf(ca, { hash: 'SHA-1' });
      assertFails(verify(sha1Leaf), 'weak_signature');
      const sha1Ca = await makeCa(root, { name: 'CN=SHA-1 CA', hash: 'SHA-1' });
      const below = await makeLeaf(sha1Ca);
      assertFails(verify(below, { intermediates: [sha1Ca.der] }), 'weak_signature');
      const legacyAllowances = new Map([
        [parseCertificate(root.der).fingerprint, { allowSha1Signatures: true }],
      ]);
      assertOk(verify(sha1Leaf, { legacyAllowances }));
      assertOk(verify(below, { intermediates: [sha1Ca.der], legacyAllowances }));
      assertOk(verify(sha1Leaf, { profile: 'rfc5280' }));
    });

    it('refuses a CRL signed with SHA-1 (weak_signature), unless allowed for that anchor', async () => {
      const leaf = await makeLeaf(ca);
      const crls = [await makeCrl(root), await makeCrl(ca, { hash: 'SHA-1' })];
      assertFails(verify(leaf, { crls }), 'weak_signature');
      const legacyAllowances = new Map([
        [parseCertificate(root.der).fingerprint, { allowSha1Signatures: true }],
      ]);
      assertOk(verify(leaf, { crls, legacyAllowances }));
      assertOk(verify(leaf, { crls: [await makeCrl(root), await makeCrl(ca)] }));
    });

    it('refuses an MD5-signed leaf with weak_signature (openssl CLI)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'gh-md5-'));
      try {
        const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
        run([
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          'ca.key',
          '-out',
          'ca.pem',
          '-subj',
          '/CN=MD5 Root',
          '-days',
          '3650',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ]);
        run([
          'req',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          'leaf.key',
          '-out',
          'leaf.csr',
          '-subj',
          '/CN=md5 leaf',
        ]);
        const ext = join(dir, 'ext.cnf');
        execFileSync('sh', [
          '-c',
          `printf 'basicConstraints=CA:FALSE\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\nextendedKeyUsage=clientAuth\\n' > ${ext}`,
        ]);
        run([
          'x509',
          '-req',
          '-in',
          'leaf.csr',
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-md5',
          '-days',
          '365',
          '-extfile',
          ext,
          '-out',
          'leaf.pem',
        ]);
        const r = verifyChain({
          leaf: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
          trustAnchors: [readFileSync(join(dir, 'ca.pem'), 'utf8')],
          at: new Date(),
          requiredEku: OID_CLIENT_AUTH,
        });
        assertFails(r, 'weak_signature');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('leaf purpose', () => {
    it('refuses a CA certificate as a client certificate (ca_as_leaf)', async () => {
      assertFails(verify(await makeLeaf(ca, { ca: true })), 'ca_as_leaf');
      const keyCertSign = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign;
      assertFails(verify(await makeLeaf(ca, { keyUsage: keyCertSign })), 'ca_as_leaf');
    });

    it('does not take anyExtendedKeyUsage as clientAuth (any_eku_not_client_auth)', async () => {
      assertFails(verify(await makeLeaf(ca, { eku: [OID_ANY_EKU] })), 'any_eku_not_client_auth');
      assertOk(verify(await makeLeaf(ca, { eku: [OID_ANY_EKU, OID_CLIENT_AUTH] })));
    });

    for (const [name, oid] of [
      ['codeSigning', OID_CODE_SIGNING],
      ['OCSPSigning', OID_OCSP_SIGNING],
      ['timeStamping', OID_TIME_STAMPING],
    ] as const) {
      it(`refuses clientAuth mixed with ${name} (eku_mixed)`, async () => {
        const leaf = await makeLeaf(ca, { eku: [OID_CLIENT_AUTH, oid] });
        assertFails(verify(leaf), 'eku_mixed');
        assertOk(verify(leaf, { profile: 'rfc5280' }));
      });
    }
  });

  describe('trust anchors', () => {
    it('refuses an expired and a not-yet-valid anchor', async () => {
      const old = await makeRoot({ name: 'CN=Old Root', notAfter: new Date('2026-01-01Z') });
      assertFails(
        verifyChain({ leaf: (await makeLeaf(old)).der, trustAnchors: [old.der], at: AT }),
        'anchor_expired',
      );
      const future = await makeRoot({ name: 'CN=Future Root', notBefore: new Date('2026-02-01Z') });
      const leaf = await makeLeaf(future, { notBefore: new Date('2025-01-01Z') });
      assertFails(
        verifyChain({ leaf: leaf.der, trustAnchors: [future.der], at: AT }),
        'anchor_not_yet_valid',
      );
    });

    it('refuses an anchor that is not a CA: cA false, no basicConstraints, keyUsage without keyCertSign', async () => {
      const rows = [
        await makeRoot({ name: 'CN=cA false', ca: false }),
        await makeRoot({ name: 'CN=no BC', noBasicConstraints: true }),
        await makeRoot({ name: 'CN=no keyCertSign', keyUsage: x509.KeyUsageFlags.cRLSign }),
      ];
      for (const anchor of rows) {
        const leaf = await makeLeaf(anchor);
        const options = { leaf: leaf.der, trustAnchors: [anchor.der], at: AT };
        assertFails(verifyChain(options), 'anchor_not_ca');
      }
    });
  });

  describe('subjectAltName syntax (invalid_san)', () => {
    const rows: [string, { type: 'dns' | 'email'; value: string }, string][] = [
      ['an IP address as dNSName', { type: 'dns', value: '192.0.2.1' }, 'invalid_san'],
      ['an underscore in a dNSName', { type: 'dns', value: 'foo_bar.example.com' }, 'invalid_san'],
      ['an empty label', { type: 'dns', value: 'foo..example.com' }, 'invalid_san'],
      ['a wildcard not alone in its label', { type: 'dns', value: 'f*.example.com' }, 'invalid_san'],
      ['a wildcard below the leftmost label', { type: 'dns', value: 'foo.*.example.com' }, 'invalid_san'],
      ['a bare wildcard on a TLD', { type: 'dns', value: '*.com' }, 'invalid_san'],
      ['an rfc822Name without @', { type: 'email', value: 'alice.example.com' }, 'invalid_san'],
      ['an rfc822Name with two @', { type: 'email', value: 'a@b@example.com' }, 'invalid_san'],
      ['an rfc822Name with a bad host', { type: 'email', value: 'alice@exa_mple.com' }, 'invalid_san'],
      ['a host name', { type: 'dns', value: 'laptop-7.corp.example.com' }, 'ok'],
      ['a single-label host', { type: 'dns', value: 'laptop-7' }, 'ok'],
      ['a wildcard', { type: 'dns', value: '*.corp.example.com' }, 'ok'],
      ['an email address', { type: 'email', value: 'alice+tag@example.com' }, 'ok'],
    ];
    for (const [what, san, expected] of rows) {
      it(`${what}: ${expected}`, async () => {
        const r = verify(await makeLeaf(ca, { san: [san] }));
        if (expected === 'ok') assertOk(r);
        else assertFails(r, expected);
      });
    }

    it('refuses an iPAddress of 5 bytes', async () => {
      // GeneralNames { [7] 01 02 03 04 05 }
      assertFails(
        verify(await makeLeaf(ca, { extensions: [rawSan('30078705' + '0102030405')] })),
        'invalid_san',
      );
      assertOk(verify(await makeLeaf(ca, { extensions: [rawSan('300687040a000001')] })));
    });
  });

  describe('RFC 5280 §4.2 structure', () => {
    it('refuses a critical AKI and a critical SKI', async () => {
      const aki = await makeLeaf(ca, {
        noKeyIds: true,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey, true)],
      });
      assertFails(verify(aki), 'aki_critical');
      const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
        'verify',
      ]);
      const ski = await makeLeaf(ca, {
        keys,
        noKeyIds: true,
        extensions: [
          await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, true),
        ],
      });
      assertFails(verify(ski), 'ski_critical');
    });

    it('refuses a non-self-issued certificate without AKI, and a CA without SKI', async () => {
      assertFails(verify(await makeLeaf(ca, { noKeyIds: true })), 'missing_aki');
      const noSki = await makeCa(root, {
        name: 'CN=No SKI CA',
        noKeyIds: true,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey)],
      });
      assertFails(verify(await makeLeaf(noSki), { intermediates: [noSki.der] }), 'missing_ski');
    });

    it('refuses an empty subject without a critical SAN, and a critical SAN with a subject', async () => {
      const san = [{ type: 'dns' as const, value: 'device.example.com' }];
      assertFails(verify(await makeLeaf(ca, { name: '', san })), 'empty_subject');
      // GeneralNames { [2] "device.example.com" }
      const criticalSan = rawSan('30148212' + Buffer.from('device.example.com').toString('hex'), true);
      assertOk(verify(await makeLeaf(ca, { name: '', extensions: [criticalSan] })));
      assertFails(verify(await makeLeaf(ca, { extensions: [criticalSan] })), 'san_critical');
    });

    it('refuses a critical authorityInfoAccess', async () => {
      assertFails(verify(await makeLeaf(ca, { extensions: [criticalAia()] })), 'aia_critical');
    });
  });

  describe('wildcards under name constraints (both profiles)', () => {
    const rows: [string, Parameters<typeof nameConstraints>[0], string, string][] = [
      ['excluded bar.example.com', { excludedDns: ['bar.example.com'] }, '*.example.com', 'name_constraints'],
      ['excluded example.com', { excludedDns: ['example.com'] }, '*.example.com', 'name_constraints'],
      ['excluded .example.com', { excludedDns: ['.example.com'] }, '*.example.com', 'name_constraints'],
      ['excluded a.b.example.com', { excludedDns: ['a.b.example.com'] }, '*.example.com', 'ok'],
      ['excluded other.org', { excludedDns: ['other.org'] }, '*.example.com', 'ok'],
      [
        'permitted foo.example.com',
        { permittedDns: ['foo.example.com'] },
        '*.example.com',
        'name_constraints',
      ],
      ['permitted example.com', { permittedDns: ['example.com'] }, '*.example.com', 'ok'],
      ['permitted .example.com', { permittedDns: ['.example.com'] }, '*.example.com', 'ok'],
      [
        'permitted .sub.example.com',
        { permittedDns: ['.sub.example.com'] },
        '*.example.com',
        'name_constraints',
      ],
    ];
    for (const [what, spec, name, expected] of rows) {
      it(`${name} under ${what}: ${expected}`, async () => {
        const constrained = await makeCa(root, {
          name: `CN=NC ${what}`,
          extensions: [nameConstraints(spec)],
        });
        const leaf = await makeLeaf(constrained, { name: 'CN=wild', san: [{ type: 'dns', value: name }] });
        for (const profile of ['strict', 'rfc5280'] as const) {
          const r = verify(leaf, { intermediates: [constrained.der], profile });
          if (expected === 'ok') assertOk(r);
          else assertFails(r, expected);
        }
      });
    }
  });

  describe('bounded cost', () => {
    let constrained: Issued;
    before(async () => {
      const excluded = Array.from({ length: 1000 }, (_, i) => `blocked-${i}.example.org`);
      constrained = await makeCa(root, {
        name: 'CN=Busy CA',
        extensions: [nameConstraints({ excludedDns: excluded })],
      });
    });

    it('checks a 1,000-SAN leaf against a 1,000-subtree CA within the 2^20 bound', async () => {
      const san = Array.from({ length: 1000 }, (_, i) => ({
        type: 'dns' as const,
        value: `host-${i}.example.com`,
      }));
      const leaf = await makeLeaf(constrained, { san });
      const parsed = parseCertificate(leaf.der);
      const r = verify(leaf, { leaf: parsed, intermediates: [constrained.der] });
      assertOk(r);
      // 1,001 names (subject + SANs) × 1,000 subtrees, counted before comparing.
      assert.equal(r.nameConstraintChecks, 1001 * 1000);
      assert.ok(r.nameConstraintChecks <= MAX_NAME_CONSTRAINT_CHECKS);
    });

    it('refuses more than 2^20 checks before comparing any name (name_constraints_too_complex)', async () => {
      const san = Array.from({ length: 1100 }, (_, i) => ({
        type: 'dns' as const,
        value: `host-${i}.example.com`,
      }));
      const leaf = await makeLeaf(constrained, { san });
      const r = verify(leaf, { intermediates: [constrained.der] });
      assertFails(r, 'name_constraints_too_complex');
      assert.equal(r.nameConstraintChecks, 0, 'nothing was compared');
    });
  });

  it('a pinned self-signed leaf needs no cA, but a CA cannot be pinned as a leaf', async () => {
    const device = await makeRoot({
      name: 'CN=pinned',
      ca: false,
      keyUsage: x509.KeyUsageFlags.digitalSignature,
      eku: [OID_CLIENT_AUTH],
    });
    assertOk(
      verifyChain({ leaf: device.der, trustAnchors: [device.der], at: AT, requiredEku: OID_CLIENT_AUTH }),
    );
    const caPin = await makeRoot({ name: 'CN=pinned CA' });
    assertFails(verifyChain({ leaf: caPin.der, trustAnchors: [caPin.der], at: AT }), 'ca_as_leaf');
  });
});
