import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { GatehouseError } from '../../errors/index.js';

/**
 * An OpenID Connect identity provider as configured by an admin
 * (`POST /api/v1/identity_providers`). The TypeBox schema is the single definition: the API
 * validates requests with it (defaults applied by Fastify's Ajv, `useDefaults: true`) and
 * `parseIdentityProviderInput` does the same for programmatic callers.
 */

/** Hosts for which a plain-http issuer (and plain-http endpoints) are accepted: tests and local IdPs. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '[::1]', 'localhost'];

export const DEFAULT_SCOPES = ['openid', 'email', 'profile'];

// An issuer identifier: https with a host and an optional path, no query, no fragment, no userinfo
// (OIDC Discovery §3); http only for the loopback hosts. `checkIdpUrl` re-checks with the URL parser.
const ISSUER_PATTERN =
  '^(https://[^\\s/?#@]+|http://(127\\.0\\.0\\.1|\\[::1\\]|localhost)(:[0-9]{1,5})?)(/[^\\s?#]*)?$';

// A scope token (RFC 6749 §3.3): printable ASCII except space, double quote and backslash.
const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$';

// A claim name: anything printable, dots included ("https://example.com/groups" is common).
const CLAIM_NAME = { minLength: 1, maxLength: 256, pattern: '^\\S+$' } as const;

export const IdentityProviderClaims = Type.Object(
  {
    email: Type.String({
      ...CLAIM_NAME,
      default: 'email',
      description: 'top-level ID token / UserInfo claim holding the e-mail address',
    }),
    groups: Type.String({
      ...CLAIM_NAME,
      default: 'groups',
      description: 'top-level claim holding the groups (a string array, or a single string)',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type IdentityProviderClaims = Static<typeof IdentityProviderClaims>;

export const IdentityProviderInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    type: Type.Literal('oidc'),
    issuer: Type.String({
      maxLength: 2048,
      pattern: ISSUER_PATTERN,
      description:
        'Issuer identifier, exactly as the IdP publishes it in its discovery document; https (http only for 127.0.0.1, [::1], localhost)',
    }),
    client_id: Type.String({ minLength: 1, maxLength: 512 }),
    client_secret: Type.String({ minLength: 1, maxLength: 4096, writeOnly: true }),
    scopes: Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: SCOPE_PATTERN }), {
      minItems: 1,
      maxItems: 50,
      uniqueItems: true,
      contains: Type.Literal('openid'),
      default: DEFAULT_SCOPES,
      description: "must include 'openid'",
    }),
    claims: IdentityProviderClaims,
  },
  { additionalProperties: false },
);
export type IdentityProviderInput = Static<typeof IdentityProviderInput>;

function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.includes(hostname.toLowerCase());
}

/**
 * Parses a URL that Gatehouse will call or send a browser to on behalf of an IdP (the issuer, the
 * endpoints from discovery): https, or http on a loopback host; no userinfo, no fragment. Returns
 * the parsed URL, or `undefined` when it is not acceptable.
 */
export function parseIdpUrl(value: unknown): URL | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.hash) return undefined;
  if (url.protocol === 'https:') return url.hostname ? url : undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  return undefined;
}

/**
 * Validates an identity-provider body and applies the defaults (scopes, claim names). Throws
 * GatehouseError `invalid_identity_provider` (400) naming the first problem.
 */
export function parseIdentityProviderInput(input: unknown): IdentityProviderInput {
  const fail = (message: string) => new GatehouseError('invalid_identity_provider', message, 400);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw fail('the identity provider must be a JSON object');
  }
  const value = Value.Default(IdentityProviderInput, Value.Clone(input));
  if (!Value.Check(IdentityProviderInput, value)) {
    const first = Value.Errors(IdentityProviderInput, value).First();
    throw fail(first ? `${first.path || '/'}: ${first.message}` : 'invalid identity provider');
  }
  const issuer = parseIdpUrl(value.issuer);
  if (!issuer || issuer.search || value.issuer.endsWith('?')) {
    throw fail('/issuer: must be an https URL without query or fragment (http only for loopback hosts)');
  }
  return value;
}
