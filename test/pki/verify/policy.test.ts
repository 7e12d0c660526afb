/**
 * Certificate policy processing beyond PKITS: requiring a policy OID the way Gatehouse callers do
 * (initialPolicies + initialExplicitPolicy), on certificates made here.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  ANY_POLICY,
  policySetAccepts,
  validPolicies,
  type VerifyResult,
} from '../../../src/pki/verify/index.js';
import { type Issued, makeCa, makeLeaf, makeRoot, verifierFor, x509 } from './fixtures.js';

const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
const OTHER = '2.16.840.1.101.3.2.1.3.7';
const policies = (...oids: string[]) => new x509.CertificatePolicyExtension(oids);

const outcome = (r: VerifyResult) => (r.ok ? 'ok' : r.code);

describe('certificate policies', () => {
  let root: Issued;
  let ca: Issued;
  const verify = verifierFor(() => ({ root, ca }));
  const require = (...oids: string[]) => ({ initialPolicies: oids, initialExplicitPolicy: true });

  before(async () => {
    root = await makeRoot();
    ca = await makeCa(root, { name: 'CN=PIV CA', extensions: [policies(PIV_AUTH, OTHER)] });
  });

  it('accepts a leaf asserting a required policy its CA allows', async () => {
    const leaf = await makeLeaf(ca, { extensions: [policies(PIV_AUTH)] });
    assert.equal(outcome(verify(leaf, require(PIV_AUTH))), 'ok');
    assert.equal(outcome(verify(leaf, require(OTHER, PIV_AUTH))), 'ok');
  });

  it('refuses (policy_required) a leaf without the required policy, or without any policy', async () => {
    const other = await makeLeaf(ca, { extensions: [policies(OTHER)] });
    assert.equal(outcome(verify(other, require(PIV_AUTH))), 'policy_required');
    const none = await makeLeaf(ca);
    assert.equal(outcome(verify(none, require(PIV_AUTH))), 'policy_required');
    // Without a requirement both are fine (RFC 5280 defaults).
    assert.equal(outcome(verify(other)), 'ok');
    assert.equal(outcome(verify(none)), 'ok');
  });

  it('refuses a policy the leaf asserts but its CA does not allow', async () => {
    const narrow = await makeCa(root, { name: 'CN=Narrow CA', extensions: [policies(OTHER)] });
    const leaf = await makeLeaf(narrow, { extensions: [policies(PIV_AUTH)] });
    assert.equal(
      outcome(verify(leaf, { intermediates: [narrow.der], ...require(PIV_AUTH) })),
      'policy_required',
    );
  });

  // What the edge gives the certificate_policy access rule: the policies a validated path is
  // good for. It must agree with verifyChain's own requirement (initialPolicies + explicit).
  describe('validPolicies agrees with initialPolicies + initialExplicitPolicy', () => {
    const cases: [string, () => Promise<{ leaf: Issued; ca: Issued }>, string[]][] = [
      [
        'a specific leaf policy under its CA',
        async () => ({ ca, leaf: await makeLeaf(ca, { extensions: [policies(PIV_AUTH)] }) }),
        [PIV_AUTH],
      ],
      ['a leaf without policies (NULL tree)', async () => ({ ca, leaf: await makeLeaf(ca) }), []],
      [
        'a specific leaf policy under an anyPolicy CA',
        async () => {
          const any = await makeCa(root, { name: 'CN=Any CA', extensions: [policies(ANY_POLICY)] });
          return { ca: any, leaf: await makeLeaf(any, { extensions: [policies(OTHER)] }) };
        },
        [OTHER],
      ],
      [
        'an anyPolicy leaf under an anyPolicy CA (valid for every policy)',
        async () => {
          const any = await makeCa(root, { name: 'CN=Any CA 2', extensions: [policies(ANY_POLICY)] });
          return { ca: any, leaf: await makeLeaf(any, { extensions: [policies(ANY_POLICY)] }) };
        },
        [ANY_POLICY],
      ],
      [
        'an anyPolicy leaf under a CA with specific policies (valid for those only)',
        async () => ({ ca, leaf: await makeLeaf(ca, { extensions: [policies(ANY_POLICY)] }) }),
        [PIV_AUTH, OTHER],
      ],
      [
        'a leaf policy its CA does not allow',
        async () => {
          const narrow = await makeCa(root, { name: 'CN=Narrow CA 2', extensions: [policies(OTHER)] });
          return { ca: narrow, leaf: await makeLeaf(narrow, { extensions: [policies(PIV_AUTH)] }) };
        },
        [],
      ],
    ];
    for (const [name, make, expected] of cases) {
      it(name, async () => {
        const { leaf, ca: issuer } = await make();
        const result = verify(leaf, { intermediates: [issuer.der] });
        assert.ok(result.ok, outcome(result));
        const valid = validPolicies(result.chain);
        assert.deepEqual([...valid].sort(), [...expected].sort());
        for (const required of [[PIV_AUTH], [OTHER], [PIV_AUTH, OTHER], ['1.3.6.1.4.1.99999.1']]) {
          const r = verify(leaf, { intermediates: [issuer.der], ...require(...required) });
          assert.equal(policySetAccepts(valid, required), r.ok, `${name}, requiring ${required.join(', ')}`);
        }
      });
    }
  });
});
