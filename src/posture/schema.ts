import { type Static, Type } from '@sinclair/typebox';
import { RequiredPolicies } from '../pki/index.js';

/** Platforms a rule can target (Cloudflare's names); Linux is the one the agent evaluates today. */
export const PLATFORMS = ['linux', 'windows', 'mac'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const EKU_NAMES = ['clientAuth', 'emailProtection'] as const;
export type EkuName = (typeof EKU_NAMES)[number];
/** The OIDs behind the EKU names a rule may require. */
export const EKU_OIDS: Record<EkuName, string> = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
};

/** Why a certificate check failed. Stable: they appear in results, logs and the agent's JSON. */
export const POSTURE_REASONS = [
  'not_found',
  'untrusted',
  'expired',
  'not_yet_valid',
  'cn_mismatch',
  'eku_missing',
  'no_private_key',
  'key_mismatch',
  'key_proof_invalid',
  'unsupported_platform',
  'evaluation_error',
  /** The certificate was not found in a location the rule names (paths, trust stores). */
  'location_not_allowed',
  /** The rule's cn names a device fact (serial number, hostname) the device did not register. */
  'fact_not_registered',
  /**
   * The certificate chains to the rule's CA but its path is valid for none of the rule's
   * `required_policies` (RFC 5280 §6.1 with initial-explicit-policy; the edge's reason too).
   */
  'policy_required',
] as const;
export type PostureReason = (typeof POSTURE_REASONS)[number];

const Uuid = (description: string) => Type.String({ format: 'uuid', description });
const Duration = (description: string) =>
  Type.String({ minLength: 2, maxLength: 20, pattern: '^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$', description });

export const PlatformSchema = Type.Union(
  PLATFORMS.map((p) => Type.Literal(p)),
  { description: 'linux, windows or mac' },
);

export const Match = Type.Array(Type.Object({ platform: PlatformSchema }, { additionalProperties: false }), {
  maxItems: 3,
  description: 'the platforms the rule applies to (empty or absent: every platform)',
});

/** Absolute paths (Linux/macOS `/…`, Windows `C:\…` or `%VAR%\…`): never relative to the agent. */
const AbsolutePath = Type.String({
  minLength: 2,
  maxLength: 1024,
  pattern: '^(/|[A-Za-z]:\\\\|%[A-Za-z_]+%)',
  description: 'absolute path to a PEM certificate (and key), or a Windows path',
});

export const TRUST_STORES = ['system', 'user'] as const;
export type TrustStore = (typeof TRUST_STORES)[number];
const TrustStoreSchema = Type.Union(
  TRUST_STORES.map((s) => Type.Literal(s)),
  {
    description: "system: the machine's store (Linux: /etc/pki/nssdb); user: the agent user's (~/.pki/nssdb)",
  },
);

/** Where the agent found a certificate: one of the rule's paths, or a trust store. */
export const CertificateLocation = Type.Union([
  Type.Object({ trust_store: TrustStoreSchema }, { additionalProperties: false }),
  Type.Object({ path: AbsolutePath }, { additionalProperties: false }),
]);
export type CertificateLocation = Static<typeof CertificateLocation>;

export const ClientCertificateV2Input = Type.Object(
  {
    certificate_id: Uuid('an uploaded CA (mTLS certificate) or the organization CA'),
    operating_system: PlatformSchema,
    check_private_key: Type.Boolean({
      description: 'the device must hold the private key; proved by signing a server nonce',
    }),
    cn: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'expected common name; ${serial_number} and ${hostname} are substituted',
      }),
    ),
    extended_key_usage: Type.Optional(
      Type.Array(Type.Union(EKU_NAMES.map((e) => Type.Literal(e))), { maxItems: 2, uniqueItems: true }),
    ),
    required_policies: Type.Optional(RequiredPolicies),
    locations: Type.Optional(
      Type.Object(
        {
          paths: Type.Optional(Type.Array(AbsolutePath, { maxItems: 20 })),
          trust_stores: Type.Optional(
            Type.Array(TrustStoreSchema, {
              maxItems: 2,
              uniqueItems: true,
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'where the agent looks, and the only places a pass may come from; neither paths nor trust_stores: the system trust store',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ClientCertificateV2Input = Static<typeof ClientCertificateV2Input>;

/** The older rule type: a CA and a common name, nothing else. */
export const ClientCertificateInput = Type.Object(
  {
    certificate_id: Uuid('an uploaded CA (mTLS certificate) or the organization CA'),
    cn: Type.String({
      minLength: 1,
      maxLength: 256,
      description: '${serial_number} and ${hostname} allowed',
    }),
  },
  { additionalProperties: false },
);
export type ClientCertificateInput = Static<typeof ClientCertificateInput>;

const common = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  schedule: Type.Optional(Duration('how often devices re-evaluate, e.g. "5m" (default)')),
  expiration: Type.Optional(
    Duration('how long a result stays valid, e.g. "1h"; absent: until the next result replaces it'),
  ),
  match: Type.Optional(Match),
};

export const PostureRuleInput = Type.Union([
  Type.Object(
    { ...common, type: Type.Literal('client_certificate_v2'), input: ClientCertificateV2Input },
    { additionalProperties: false },
  ),
  Type.Object(
    { ...common, type: Type.Literal('client_certificate'), input: ClientCertificateInput },
    { additionalProperties: false },
  ),
]);
export type PostureRuleInput = Static<typeof PostureRuleInput>;

/** A stored rule as the API returns it. */
export interface PostureRule {
  id: string;
  name: string;
  type: PostureRuleInput['type'];
  description: string;
  schedule: string;
  expiration: string | null;
  match: { platform: Platform }[];
  input: ClientCertificateV2Input | ClientCertificateInput;
  created_on: string;
  updated_on: string;
}

export const CertificateSummary = Type.Object({
  subject: Type.String(),
  serial_number: Type.String(),
  fingerprint_sha256: Type.String(),
  not_after: Type.Optional(Type.String()),
});
export type CertificateSummary = Static<typeof CertificateSummary>;

/** One rule's result, as the agent reports it. */
export const PostureResultInput = Type.Object(
  {
    rule_id: Uuid('the posture rule evaluated'),
    success: Type.Boolean(),
    reasons: Type.Array(Type.Union(POSTURE_REASONS.map((r) => Type.Literal(r))), {
      maxItems: POSTURE_REASONS.length,
    }),
    /** The certificate considered, with the intermediates found beside it (PEM), for the server to re-check. */
    certificate: Type.Optional(
      Type.Object(
        {
          pem: Type.String({ minLength: 1, maxLength: 20_000 }),
          intermediates: Type.Optional(Type.String({ maxLength: 100_000 })),
          /** Where it was found; a pass from a location the rule does not name fails. */
          location: Type.Optional(CertificateLocation),
        },
        { additionalProperties: false },
      ),
    ),
    /** The nonce signed with the certificate's private key (base64), when the rule checks the key. */
    key_proof: Type.Optional(
      Type.Object(
        {
          nonce: Type.String({ minLength: 16, maxLength: 200 }),
          signature: Type.String({ minLength: 16, maxLength: 2000, description: 'base64' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PostureResultInput = Static<typeof PostureResultInput>;

export const PostureReport = Type.Object(
  { results: Type.Array(PostureResultInput, { minItems: 1, maxItems: 200 }) },
  { additionalProperties: false },
);
export type PostureReport = Static<typeof PostureReport>;

/** A rule as a device sees it: the rule plus the certificates of its CA, to validate chains locally. */
export interface DevicePostureRule extends PostureRule {
  ca_certificates: string;
  /** `schedule` in seconds, so that devices need not parse durations. */
  schedule_seconds: number;
}

export interface StoredResult {
  id: string;
  device_id: string;
  device_name: string;
  registration_id: string;
  rule_id: string;
  rule_name: string;
  success: boolean;
  reasons: PostureReason[];
  certificate: CertificateSummary | null;
  key_proved: boolean;
  reported_on: string;
  expires_on: string | null;
}

/** Node's `os.platform()` names (what the agent reports as `os`) → rule platforms. */
export function platformOf(os: string | null | undefined): Platform | undefined {
  switch (os?.toLowerCase()) {
    case 'linux':
      return 'linux';
    case 'win32':
    case 'windows':
      return 'windows';
    case 'darwin':
    case 'mac':
    case 'macos':
      return 'mac';
    default:
      return undefined;
  }
}
