import { type Static, Type } from '@sinclair/typebox';
import { RequiredPolicies } from '../pki/index.js';

/**
 * A hostname's client-authentication settings. The TypeBox schemas are the single definition:
 * the API validates requests with them, OpenAPI is generated from them, and the edge reads the
 * same shapes from the store.
 */

export const CLIENT_AUTH_MODES = ['off', 'report', 'enforce'] as const;
export type ClientAuthMode = (typeof CLIENT_AUTH_MODES)[number];

export const HEADER_STYLES = ['gatehouse', 'rfc9440', 'xfcc'] as const;
export type HeaderStyle = (typeof HEADER_STYLES)[number];

const NAME_ATTRIBUTES = [
  'CN',
  'O',
  'OU',
  'C',
  'ST',
  'L',
  'emailAddress',
  'serialNumber',
  'DC',
  'UID',
] as const;

/** Certificate fields a custom header can carry. */
export const CERTIFICATE_FIELDS = [
  'subject',
  'issuer',
  ...NAME_ATTRIBUTES.map((a) => `subject.${a}` as const),
  ...NAME_ATTRIBUTES.map((a) => `issuer.${a}` as const),
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
] as const;
export type CertificateField = (typeof CERTIFICATE_FIELDS)[number];

// RFC 9110 token; the edge lower-cases header names.
const HEADER_NAME = "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,64}$";

export const ForwardConfig = Type.Object(
  {
    styles: Type.Array(Type.Union(HEADER_STYLES.map((s) => Type.Literal(s))), {
      uniqueItems: true,
      default: ['gatehouse'],
      description:
        'gatehouse: Gatehouse-Client-Cert-* headers; rfc9440: Client-Cert/Client-Cert-Chain; xfcc: Envoy X-Forwarded-Client-Cert',
    }),
    custom: Type.Array(
      Type.Object(
        {
          header: Type.String({ pattern: HEADER_NAME }),
          field: Type.Union(CERTIFICATE_FIELDS.map((f) => Type.Literal(f))),
        },
        { additionalProperties: false },
      ),
      { default: [], maxItems: 32 },
    ),
  },
  { additionalProperties: false },
);
export type ForwardConfig = Static<typeof ForwardConfig>;

export const BlockResponse = Type.Object(
  {
    json: Type.Optional(
      Type.Unknown({ description: 'any JSON value, sent when the client accepts application/json' }),
    ),
    html: Type.Optional(Type.String({ maxLength: 65_536, description: 'sent otherwise' })),
  },
  { additionalProperties: false },
);
export type BlockResponse = Static<typeof BlockResponse>;

export const ClientAuthInput = Type.Object(
  {
    mode: Type.Union(CLIENT_AUTH_MODES.map((m) => Type.Literal(m))),
    mtls_certificate_ids: Type.Array(Type.String({ format: 'uuid' }), {
      uniqueItems: true,
      maxItems: 50,
      default: [],
    }),
    forward: Type.Optional(ForwardConfig),
    block_response: Type.Optional(BlockResponse),
    required_policies: Type.Optional(RequiredPolicies),
  },
  { additionalProperties: false },
);
export type ClientAuthInput = Static<typeof ClientAuthInput>;

/** What is stored (as JSON) in hostnames.client_auth: everything but the CA ids. */
export interface StoredClientAuth {
  mode: ClientAuthMode;
  forward: ForwardConfig;
  block_response: BlockResponse;
  /** Absent in rows written before issue 12: no requirement. */
  required_policies?: string[];
}

export const DEFAULT_FORWARD: ForwardConfig = { styles: ['gatehouse'], custom: [] };
