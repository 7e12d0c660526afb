// The console's side of the API contract: names for the generated types (./schema.ts) and the
// lists of allowed values the forms offer (./values.ts), both generated from docs/openapi.json.
// Each list is checked against its type's union by `exactly` (a wrong path in the generator is a
// tsc error); what the console says about each value (labels, help) is a Record keyed by the
// union in the page, so a value the server adds is a `tsc -p web/tsconfig.json` error there.
import type { components, paths } from './schema';
import * as values from './values';

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

export const MODES = exactly<Mode>()(values.MODES);
export const HEADER_STYLES = exactly<HeaderStyle>()(values.HEADER_STYLES);
/** The fields a custom forwarded header can carry, in the server's order. */
export const CERTIFICATE_FIELDS = exactly<CertificateField>()(values.CERTIFICATE_FIELDS);

export type RevocationReason = NonNullable<
  NonNullable<paths['/api/v1/client_certificates/{id}']['delete']['parameters']['query']>['reason']
>;
export const REVOCATION_REASONS = exactly<RevocationReason>()(values.REVOCATION_REASONS);

export type CertificateStatus = Schemas['ClientCertificate']['status'];
export const CERTIFICATE_STATUSES = exactly<CertificateStatus>()(values.CERTIFICATE_STATUSES);

type PolicySchema = Item<Schemas['AccessApp']['policies']>;
export type Decision = PolicySchema['decision'];
export const DECISIONS = exactly<Decision>()(values.DECISIONS);
/** One access rule: one key, the rule type, naming its parameters. */
export type RuleSchema = Item<PolicySchema['include']>;
export type RuleType = keyof RuleSchema;

export type Assurance = Schemas['Registration']['assurance'];
/** Lowest first: software < hardware_claimed (the agent says so) < tpm_attested (TPM attestation). */
export const ASSURANCE_LEVELS = exactly<Assurance>()(values.ASSURANCE_LEVELS);

type PostureRuleSchema = Schemas['PostureRule'];
export type PostureRuleType = PostureRuleSchema['type'];
export type Platform = Item<PostureRuleSchema['match']>['platform'];
export const PLATFORMS = exactly<Platform>()(values.PLATFORMS);
export type PostureInputV2 = Extract<PostureRuleSchema['input'], { operating_system: unknown }>;
export type ExtendedKeyUsage = Item<NonNullable<PostureInputV2['extended_key_usage']>>;
export const EXTENDED_KEY_USAGES = exactly<ExtendedKeyUsage>()(values.EXTENDED_KEY_USAGES);
export type TrustStore = Item<NonNullable<NonNullable<PostureInputV2['locations']>['trust_stores']>>;
export const TRUST_STORES = exactly<TrustStore>()(values.TRUST_STORES);
export type PostureReason = Item<Schemas['PostureResult']['reasons']>;
/** A posture rule's input as the console reads it: the v2 fields are absent on a legacy rule. */
export type PostureInput = Partial<PostureInputV2> & { certificate_id: string; cn?: string };
