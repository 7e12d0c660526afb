// The console's side of the API contract: names for the generated types (./schema.ts, from
// docs/openapi.json) and every list of allowed values the console offers in a form. Each list is
// checked against the schema's union by `exactly`: when the server adds, renames or drops a
// value, `tsc -p web/tsconfig.json` fails here until the console follows.
import type { components, paths } from './schema';

export type Schemas = components['schemas'];

/** What `result` holds in the 200 answer of `method path`. */
export type Result<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { 200: { content: { 'application/json': { result: infer R } } } };
}
  ? R
  : never;

/** The JSON body `method path` takes. */
export type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

/** The element type of an array type. */
export type Item<A> = A extends readonly (infer T)[] ? T : never;

type Missing<T, L extends readonly unknown[]> = Exclude<T, L[number]>;

/**
 * `values` as given, when it names every member of the union T (and, by its type, nothing else);
 * otherwise a type error that says which are missing.
 */
export const exactly =
  <T extends string>() =>
  <const L extends readonly T[]>(
    values: L & ([Missing<T, L>] extends [never] ? unknown : { missing: Missing<T, L> }),
  ): L =>
    values;

type HostnameSchema = Schemas['Hostname'];
type ClientAuth = HostnameSchema['client_auth'];
export type Mode = ClientAuth['mode'];
export type HeaderStyle = Item<ClientAuth['forward']['styles']>;
export type CertificateField = Item<ClientAuth['forward']['custom']>['field'];

export const MODES = exactly<Mode>()(['off', 'report', 'enforce']);
export const HEADER_STYLES = exactly<HeaderStyle>()(['gatehouse', 'rfc9440', 'xfcc']);
/** The fields a custom forwarded header can carry, in the server's order. */
export const CERTIFICATE_FIELDS = (() => {
  const attrs = ['CN', 'O', 'OU', 'C', 'ST', 'L', 'emailAddress', 'serialNumber', 'DC', 'UID'] as const;
  const named = <P extends 'subject' | 'issuer'>(p: P) => attrs.map((a) => `${p}.${a}` as const);
  return exactly<CertificateField>()([
    'subject',
    'issuer',
    ...named('subject'),
    ...named('issuer'),
    'serial',
    'ski',
    'sha256',
    'not_before',
    'not_after',
    'san.dns',
    'san.uri',
    'san.email',
    'san.ip',
    'status',
    'reason',
  ] as const);
})();

export type RevocationReason = NonNullable<
  NonNullable<paths['/api/v1/client_certificates/{id}']['delete']['parameters']['query']>['reason']
>;
export const REVOCATION_REASONS = exactly<RevocationReason>()([
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
]);

export type CertificateStatus = Schemas['ClientCertificate']['status'];
export const CERTIFICATE_STATUSES = exactly<CertificateStatus>()(['active', 'revoked', 'expired']);

type PolicySchema = Item<Schemas['AccessApp']['policies']>;
export type Decision = PolicySchema['decision'];
export const DECISIONS = exactly<Decision>()(['allow', 'deny', 'non_identity', 'bypass']);
/** One access rule: one key, the rule type, naming its parameters. */
export type RuleSchema = Item<PolicySchema['include']>;
export type RuleType = keyof RuleSchema;

export type Assurance = Schemas['Registration']['assurance'];
/** Lowest first: software < hardware_claimed (the agent says so) < tpm_attested (TPM attestation). */
export const ASSURANCE_LEVELS = exactly<Assurance>()(['software', 'hardware_claimed', 'tpm_attested']);

type PostureRuleSchema = Schemas['PostureRule'];
export type PostureRuleType = PostureRuleSchema['type'];
export type Platform = Item<PostureRuleSchema['match']>['platform'];
export const PLATFORMS = exactly<Platform>()(['linux', 'windows', 'mac']);
export type PostureInputV2 = Extract<PostureRuleSchema['input'], { operating_system: unknown }>;
export type ExtendedKeyUsage = Item<NonNullable<PostureInputV2['extended_key_usage']>>;
export type TrustStore = Item<NonNullable<NonNullable<PostureInputV2['locations']>['trust_stores']>>;
export const TRUST_STORES = exactly<TrustStore>()(['system', 'user']);
export type PostureReason = Item<Schemas['PostureResult']['reasons']>;
/** A posture rule's input as the console reads it: the v2 fields are absent on a legacy rule. */
export type PostureInput = Partial<PostureInputV2> & { certificate_id: string; cn?: string };
