/**
 * Required certificate policies, as a hostname (`client_auth.required_policies`) and a posture
 * rule (`input.required_policies`) state them: the schema, the write-time check with a precise
 * code, and the verifyChain options that enforce them (RFC 5280 §6.1 user-initial-policy-set with
 * initial-explicit-policy), so that the edge and posture judge a policy requirement identically.
 */
import { Type } from '@sinclair/typebox';
import { badRequest } from '../errors/index.js';
import { ANY_POLICY, policyOidError } from './verify/policy.js';
import type { VerifyOptions } from './verify/types.js';

export const MAX_REQUIRED_POLICIES = 20;

/**
 * The syntax is checked by `checkRequiredPolicies` (400 `invalid_policy_oid`, naming the fault),
 * not by a schema pattern, whose failure could only say `invalid_request`.
 */
export const RequiredPolicies = Type.Array(
  Type.String({
    minLength: 1,
    maxLength: 200,
    description:
      'a certificate policy OID in dotted decimal: at least two arcs, the first 0, 1 or 2, no leading zeros',
  }),
  {
    uniqueItems: true,
    maxItems: MAX_REQUIRED_POLICIES,
    description:
      'certificate policy OIDs (e.g. PIV authentication 2.16.840.1.101.3.2.1.3.13): the path must be valid for one of them (RFC 5280 §6.1 with initial-explicit-policy), else policy_required; empty or absent: no requirement',
  },
);

/** Why `oid` cannot be a required policy, or undefined when it can. */
export function policyOidProblem(oid: string): string | undefined {
  if (oid === ANY_POLICY)
    return `is anyPolicy (${ANY_POLICY}), which cannot be required: list the policies you accept`;
  return policyOidError(oid);
}

/** `oids` checked at write time: 400 `invalid_policy_oid` naming `field` and the fault. */
export function checkRequiredPolicies(oids: readonly string[] | undefined, field: string): string[] {
  for (const [i, oid] of (oids ?? []).entries()) {
    const problem = policyOidProblem(oid);
    if (problem) throw badRequest('invalid_policy_oid', `${field}[${i}]: ${JSON.stringify(oid)} ${problem}`);
  }
  return [...(oids ?? [])];
}

/** The verifyChain options for a requirement: none when `required` is empty. */
export function requiredPolicyOptions(
  required: readonly string[] | undefined,
): Pick<VerifyOptions, 'initialPolicies' | 'initialExplicitPolicy'> {
  return required && required.length > 0 ? { initialPolicies: required, initialExplicitPolicy: true } : {};
}
