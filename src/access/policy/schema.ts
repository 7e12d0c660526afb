import { type Static, type TProperties, Type } from '@sinclair/typebox';
import { DEVICE_ASSURANCES } from '../../devices/attestation/index.js';

/**
 * Access applications and their policies. These TypeBox schemas are the single definition: the
 * API validates requests with them, OpenAPI is generated from them, and `compilePolicies` checks
 * stored policies against them again before the edge uses them. Every object is closed
 * (`additionalProperties: false`) and every rule is an object with exactly one known key, so an
 * unknown or misspelt rule type is rejected when it is written, never skipped when it is run.
 *
 * Patterns are plain ASCII regular expressions understood alike by Ajv (the API) and TypeBox's
 * `Value.Check`; no `format` keywords, which `Value.Check` does not know without a registry.
 */

/** A lower-case UUID, as Gatehouse generates them. */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** `24h`, `30m`, `45s`, `0s`, `7d`, or a combination in that order (`1h30m`). */
export const DURATION_PATTERN = '^(?=[0-9])(?:[0-9]{1,5}d)?(?:[0-9]{1,6}h)?(?:[0-9]{1,7}m)?(?:[0-9]{1,9}s)?$';

/** A DNS name in either case (used for `email_domain`; compared case-insensitively). */
const DNS_NAME_PATTERN =
  '^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';

/**
 * An application domain: a lower-case hostname, then optionally a path prefix made of RFC 3986
 * path characters (no query, no fragment, no spaces). `parseDomain` checks the rest (label
 * lengths, dot segments, percent-encoding).
 */
export const DOMAIN_PATTERN =
  "^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?:/[A-Za-z0-9\\-._~!$&'()*+,;=:@%/]*)?$";

/** Policy OIDs one certificate_policy rule may list. */
export const MAX_RULE_OIDS = 20;

const NO_CONTROL_CHARS = '^[^\\x00-\\x1f\\x7f]+$';

const closed = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });

const Uuid = (description: string) => Type.String({ pattern: UUID_PATTERN, description });

const durationOptions = {
  maxLength: 32,
  pattern: DURATION_PATTERN,
  description:
    'days, hours, minutes, seconds: "24h", "30m", "45s", "7d", "1h30m"; "0s" keeps no session; at most 30d',
};
export const Duration = Type.String(durationOptions);

const empty = (description: string) => Type.Object({}, { additionalProperties: false, description });

/**
 * A rule: an object with exactly one key, the rule type, whose value holds the rule's
 * parameters. Expressed as one closed object with every type optional and
 * `minProperties`/`maxProperties` 1 rather than as a union of one object per type, so that a bad rule gets
 * one precise error ("must NOT have additional properties", "must NOT have more than 1
 * properties") instead of ten "must have required property" lines.
 */
export const Rule = Type.Object(
  {
    certificate: Type.Optional(empty('a valid client certificate for this hostname (as judged by the edge)')),
    common_name: Type.Optional(
      closed(
        { common_name: Type.String({ minLength: 1, maxLength: 64, pattern: NO_CONTROL_CHARS }) },
        'a valid client certificate whose subject CN is exactly this (case-sensitive)',
      ),
    ),
    email: Type.Optional(
      closed(
        { email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }) },
        'the logged-in user has this e-mail address (case-insensitive)',
      ),
    ),
    email_domain: Type.Optional(
      closed(
        { domain: Type.String({ maxLength: 253, pattern: DNS_NAME_PATTERN }) },
        "the logged-in user's e-mail address is at exactly this domain (no subdomains; case-insensitive)",
      ),
    ),
    group: Type.Optional(
      closed(
        { name: Type.String({ minLength: 1, maxLength: 256, pattern: NO_CONTROL_CHARS }) },
        "the logged-in user's IdP groups claim contains exactly this name (case-sensitive)",
      ),
    ),
    service_token: Type.Optional(
      closed(
        { token_id: Uuid('a service token id') },
        'the request carries valid credentials of this service token',
      ),
    ),
    any_valid_service_token: Type.Optional(
      empty('the request carries valid credentials of any service token'),
    ),
    ip: Type.Optional(
      closed(
        {
          ip: Type.String({
            minLength: 2,
            maxLength: 49,
            pattern: '^[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?$',
            description:
              'CIDR range, IPv4 or IPv6 ("10.0.0.0/8", "2001:db8::/32"); a plain address is /32 or /128',
          }),
        },
        'the client address is in this range',
      ),
    ),
    everyone: Type.Optional(empty('every request (in an allow policy: every logged-in user)')),
    device_posture: Type.Optional(
      closed(
        { integration_uid: Uuid('a device posture rule id') },
        'the device currently passes this posture rule',
      ),
    ),
    device_assurance: Type.Optional(
      closed(
        {
          // A plain string, checked when compiled: a misspelt level gets its own error code.
          level: Type.String({
            minLength: 1,
            maxLength: 64,
            description: `the lowest level accepted: ${DEVICE_ASSURANCES.join(' < ')} (exactly as written)`,
          }),
        },
        'a valid client certificate of an active device registration whose assurance is at least this level',
      ),
    ),
    certificate_policy: Type.Optional(
      closed(
        {
          oids: Type.Array(
            Type.String({
              minLength: 1,
              maxLength: 200,
              description: 'a certificate policy OID in dotted decimal (not anyPolicy)',
            }),
            { minItems: 1, maxItems: MAX_RULE_OIDS, uniqueItems: true },
          ),
        },
        "a valid client certificate whose path is valid for one of these certificate policies (RFC 5280 §6.1, in the trust anchor's policy domain)",
      ),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    description: 'exactly one key, naming the rule type, e.g. { "email": { "email": "alice@example.com" } }',
  },
);
export type Rule = Static<typeof Rule>;

/** Every rule type, by its JSON key. */
export const RULE_TYPES = [
  'certificate',
  'common_name',
  'email',
  'email_domain',
  'group',
  'service_token',
  'any_valid_service_token',
  'ip',
  'everyone',
  'device_posture',
  'device_assurance',
  'certificate_policy',
] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** Rule types that need an identity from an IdP login; not allowed in bypass and non_identity policies. */
export const IDENTITY_RULE_TYPES: readonly RuleType[] = ['email', 'email_domain', 'group'];

/**
 * Rule types that look at the client certificate (and only count a valid one): a token issued
 * through them is bound to that certificate.
 */
export const CERTIFICATE_RULE_TYPES: readonly RuleType[] = [
  'certificate',
  'common_name',
  'device_assurance',
  'certificate_policy',
];

export const DECISIONS = ['allow', 'deny', 'non_identity', 'bypass'] as const;
export type Decision = (typeof DECISIONS)[number];

/** Limits per policy list and per application; they bound the per-request evaluation cost. */
export const MAX_RULES_PER_LIST = 200;
export const MAX_POLICIES_PER_APP = 50;

const RuleList = (description: string, minItems = 0) =>
  Type.Array(Rule, { minItems, maxItems: MAX_RULES_PER_LIST, description });

export const Policy = closed({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  decision: Type.Union(
    DECISIONS.map((d) => Type.Literal(d)),
    {
      description:
        'bypass: no Access checks at all; deny: refuse; non_identity: allow without an IdP login; allow: allow a logged-in user',
    },
  ),
  include: RuleList('the request must match at least one of these', 1),
  exclude: Type.Optional(RuleList('the request must match none of these')),
  require: Type.Optional(RuleList('the request must match all of these')),
  session_duration: Type.Optional(Duration),
});
export type Policy = Static<typeof Policy>;

export const AccessAppInput = closed({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  domain: Type.String({
    minLength: 1,
    maxLength: 1280,
    pattern: DOMAIN_PATTERN,
    description:
      'a lower-case hostname served by the edge, optionally followed by a path prefix: "app.example.com" or "app.example.com/admin"',
  }),
  session_duration: Type.Optional(Type.String({ ...durationOptions, default: '24h' })),
  policies: Type.Array(Policy, {
    maxItems: MAX_POLICIES_PER_APP,
    description:
      'evaluated as described in docs/access-policies.md; no policies means every request is denied',
  }),
  allowed_idps: Type.Optional(
    Type.Array(Uuid('an identity provider id'), {
      uniqueItems: true,
      maxItems: 32,
      description: 'identity providers users may log in with; all when absent',
    }),
  ),
});
export type AccessAppInput = Static<typeof AccessAppInput>;
