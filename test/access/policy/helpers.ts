// Builders shared by the policy tests: rules in their JSON shapes, policies and request facts.
import type { Decision, Policy, RequestFacts, Rule } from '../../../src/access/policy/index.js';

export const TOKEN_A = '6f0c1b9e-3d1a-4c55-9a0e-1f2b3c4d5e6f';
export const TOKEN_B = '0d9f6a3e-2b7c-4e81-8f10-a1b2c3d4e5f6';
export const POSTURE_DISK = 'a3c5e7f9-1b2d-4f60-8a9c-0e1f2a3b4c5d';
export const POSTURE_OS = 'b4d6f8a0-2c3e-4071-9bad-1f2e3d4c5b6a';

export const rule = {
  certificate: { certificate: {} } as Rule,
  commonName: (common_name: string): Rule => ({ common_name: { common_name } }),
  email: (email: string): Rule => ({ email: { email } }),
  emailDomain: (domain: string): Rule => ({ email_domain: { domain } }),
  group: (name: string): Rule => ({ group: { name } }),
  serviceToken: (token_id: string): Rule => ({ service_token: { token_id } }),
  anyServiceToken: { any_valid_service_token: {} } as Rule,
  ip: (ip: string): Rule => ({ ip: { ip } }),
  everyone: { everyone: {} } as Rule,
  posture: (integration_uid: string): Rule => ({ device_posture: { integration_uid } }),
  assurance: (level: string): Rule => ({ device_assurance: { level } }),
  certPolicy: (...oids: string[]): Rule => ({ certificate_policy: { oids } }),
};

/** Certificate policy OIDs for the tests (PIV authentication, PIV card authentication). */
export const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
export const PIV_CARD_AUTH = '2.16.840.1.101.3.2.1.3.17';
export const ANY_POLICY = '2.5.29.32.0';

export function policy(
  name: string,
  decision: Decision,
  include: Rule[],
  more: { exclude?: Rule[]; require?: Rule[] } = {},
): Policy {
  return { name, decision, include, ...more };
}

export const validCert = (
  commonName?: string,
  more: Pick<NonNullable<RequestFacts['certificate']>, 'policies' | 'deviceAssurance'> = {},
): RequestFacts['certificate'] => ({
  valid: true,
  sha256: 'ab'.repeat(32),
  ...(commonName === undefined ? {} : { commonName }),
  ...more,
});

/** A valid certificate of an active device registration at `level` (as the edge's cache knows it). */
export const deviceCert = (level: string): RequestFacts['certificate'] =>
  validCert(undefined, { deviceAssurance: level });

/** A valid certificate whose path is valid for these policies (pki validPolicies). */
export const policyCert = (...policies: string[]): RequestFacts['certificate'] =>
  validCert(undefined, { policies: new Set(policies) });

export const user = (email: string, groups: string[] = []): RequestFacts['identity'] => ({ email, groups });
