import { Value } from '@sinclair/typebox/value';
import {
  DEVICE_ASSURANCES,
  type DeviceAssuranceLevel,
  isDeviceAssurance,
  meetsAssurance,
} from '../../devices/attestation/index.js';
import { badRequest, isGatehouseError } from '../../errors/index.js';
import { checkRequiredPolicies, policySetAccepts } from '../../pki/index.js';
import { type Cidr, cidrContains, parseAddress, parseCidr } from './ip.js';
import {
  CERTIFICATE_RULE_TYPES,
  IDENTITY_RULE_TYPES,
  Policy,
  type Rule,
  RULE_TYPES,
  type RuleType,
} from './schema.js';

/**
 * The policy evaluator: a pure function of an application's policies and what the edge knows
 * about a request. The decision order (docs/access-policies.md) is:
 *
 *   1. bypass policies, identity ignored: the first match lets the request through unchecked;
 *   2. deny policies, with every fact known (an identity only when the user has one): the first
 *      match refuses;
 *   3. non_identity policies, identity ignored: the first match allows without a login;
 *   4. allow policies, which need an identity: with one, the first match allows; without one,
 *      `login_required` when some allow policy could still match after a login;
 *   5. otherwise deny.
 *
 * Identity rules (email, email_domain, group) are only allowed in deny and allow policies.
 * Certificate-derived rules (certificate, common_name, device_assurance, certificate_policy) are
 * non-identity rules, allowed in every decision: they only ever count a certificate the edge
 * judged valid for the hostname.
 * Without an identity they are *unknown*, not false (three-valued logic), so that "deny everyone
 * except alice@" neither locks alice out before she has logged in nor lets an anonymous request
 * through: see `evaluate` below.
 *
 * `compilePolicies` does the work once (schema check, CIDR parsing, e-mail lower-casing, sets for
 * long OR lists, the outcome objects); `evaluate` then allocates nothing but the lower-cased
 * e-mail address and its domain, and returns shared, frozen outcome objects.
 */

export interface RequestFacts {
  /** The connection's client certificate as judged by the edge for this hostname. */
  certificate?: {
    valid: boolean;
    commonName?: string;
    sha256: string;
    /**
     * The certificate policies its validated path is good for (pki `validPolicies`: OIDs in the
     * trust anchor's policy domain, anyPolicy when an anyPolicy branch reaches the leaf).
     */
    policies?: ReadonlySet<string>;
    /**
     * The assurance level of the active device registration whose current certificate this is
     * (the edge's in-memory registration view); absent when it is no such certificate.
     */
    deviceAssurance?: string;
  };
  /** An identity from an OIDC login session, when the user has one. */
  identity?: { email: string; groups: readonly string[] };
  /** A service token presented with valid credentials (Gatehouse-Access-Client-Id/-Secret). */
  serviceToken?: { id: string };
  /** Client IP (string as Node gives it, incl. IPv4-mapped IPv6 like ::ffff:127.0.0.1). */
  ip: string;
  /** Posture rule ids currently passing for the device, when known. */
  passingPosture?: ReadonlySet<string>;
}

export type DenyReason =
  /** A deny policy matched (or, for a request without a login, would match unless the user logs in). */
  | 'deny_policy'
  /** No bypass, non_identity or allow policy matches (and a login would not change that). */
  | 'no_matching_policy'
  /** The application has ip rules and the client address did not parse; fails closed. */
  | 'invalid_client_ip';

export interface BypassOutcome<P extends Policy = Policy> {
  readonly outcome: 'bypass';
  readonly policy: P;
}
export interface AllowOutcome<P extends Policy = Policy> {
  readonly outcome: 'allow';
  readonly policy: P;
  /** identity: an allow policy matched a logged-in user; non_identity: no login was involved. */
  readonly kind: 'identity' | 'non_identity';
}
export interface DenyOutcome<P extends Policy = Policy> {
  readonly outcome: 'deny';
  readonly policy: P | undefined;
  readonly reason: DenyReason;
}
export interface LoginRequiredOutcome {
  readonly outcome: 'login_required';
}
export type PolicyOutcome<P extends Policy = Policy> =
  BypassOutcome<P> | AllowOutcome<P> | DenyOutcome<P> | LoginRequiredOutcome;

// Three-valued logic: a rule that needs an identity is UNKNOWN when there is none yet.
const FALSE = 0;
const TRUE = 1;
const UNKNOWN = 2;
type Truth = typeof FALSE | typeof TRUE | typeof UNKNOWN;

type CompiledRule =
  | { readonly kind: 'certificate' | 'any_valid_service_token' | 'everyone' }
  | {
      readonly kind: SetRuleKind;
      readonly values: ReadonlySet<string>;
    }
  | { readonly kind: 'device_posture'; readonly ids: readonly string[] }
  | { readonly kind: 'certificate_policy'; readonly oids: readonly string[] }
  | { readonly kind: 'ip'; readonly cidrs: readonly Cidr[] };

interface CompiledPolicy<P extends Policy> {
  readonly include: readonly CompiledRule[];
  readonly exclude: readonly CompiledRule[];
  readonly require: readonly CompiledRule[];
  /** What the evaluator returns when this policy decides. */
  readonly outcome: PolicyOutcome<P>;
}

type Identity = NonNullable<RequestFacts['identity']>;

const LOGIN_REQUIRED: LoginRequiredOutcome = Object.freeze({ outcome: 'login_required' });
const NO_MATCH: DenyOutcome<never> = Object.freeze({
  outcome: 'deny',
  policy: undefined,
  reason: 'no_matching_policy',
});
const INVALID_CLIENT_IP: DenyOutcome<never> = Object.freeze({
  outcome: 'deny',
  policy: undefined,
  reason: 'invalid_client_ip',
});

// Per-call scratch state. Evaluation is synchronous and never re-entered, so one module-level
// copy is safe and saves an allocation per request.
const scratch = { family: 0 as 0 | 4 | 6, address: new Uint32Array(4), email: '', emailDomain: '' };

/** The rule's type: its one key (with a defined value). */
function ruleType(rule: Rule): RuleType | undefined {
  return RULE_TYPES.find((t) => rule[t] !== undefined);
}

type SetRuleKind = 'common_name' | 'email' | 'email_domain' | 'group' | 'service_token' | 'device_assurance';

function setRule(kind: SetRuleKind, value: string): CompiledRule {
  return { kind, values: new Set([value]) };
}

/** A device_assurance level exactly as the levels are spelled; a near miss gets a hint. */
function assuranceLevel(level: string): string {
  if (isDeviceAssurance(level)) return level;
  const near = level
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  const hint = isDeviceAssurance(near) ? ` (did you mean "${near}"?)` : '';
  throw badRequest(
    'invalid_assurance_level',
    `${JSON.stringify(level)} is not a device assurance level${hint}: use one of ${DEVICE_ASSURANCES.join(', ')}`,
  );
}

/** certificate_policy OIDs: dotted decimal without leading zeros, and not anyPolicy. */
const policyOids = (oids: readonly string[]): string[] => checkRequiredPolicies(oids, 'oids');

function compileRule(rule: Rule): CompiledRule {
  if (rule.certificate) return { kind: 'certificate' };
  if (rule.common_name) return setRule('common_name', rule.common_name.common_name);
  if (rule.email) return setRule('email', rule.email.email.toLowerCase());
  if (rule.email_domain) return setRule('email_domain', rule.email_domain.domain.toLowerCase());
  if (rule.group) return setRule('group', rule.group.name);
  if (rule.service_token) return setRule('service_token', rule.service_token.token_id);
  if (rule.any_valid_service_token) return { kind: 'any_valid_service_token' };
  if (rule.ip) return { kind: 'ip', cidrs: [parseCidr(rule.ip.ip)] };
  if (rule.everyone) return { kind: 'everyone' };
  if (rule.device_posture) return { kind: 'device_posture', ids: [rule.device_posture.integration_uid] };
  if (rule.device_assurance) return setRule('device_assurance', assuranceLevel(rule.device_assurance.level));
  if (rule.certificate_policy)
    return { kind: 'certificate_policy', oids: policyOids(rule.certificate_policy.oids) };
  throw badRequest('invalid_policy', 'not a rule (expected one key naming the rule type)');
}

/**
 * Compiles a rule list. In an OR list (include, exclude) rules of one type merge into one rule
 * with a set (or a list of CIDRs), so long lists of addresses cost one lookup; a require list is
 * an AND and keeps every rule apart.
 */
function compileList(rules: readonly Rule[], where: string, merge: boolean): CompiledRule[] {
  const out: CompiledRule[] = [];
  rules.forEach((rule, j) => {
    let compiled: CompiledRule;
    try {
      compiled = compileRule(rule);
    } catch (err) {
      throw isGatehouseError(err) ? badRequest(err.code, `${where}[${j}]: ${err.message}`, err) : err;
    }
    const same = merge ? out.find((r) => r.kind === compiled.kind) : undefined;
    if (!same) out.push(compiled);
    else if (same.kind === 'ip' && compiled.kind === 'ip') (same.cidrs as Cidr[]).push(...compiled.cidrs);
    else if (same.kind === 'device_posture' && compiled.kind === 'device_posture') {
      (same.ids as string[]).push(...compiled.ids);
    } else if (same.kind === 'certificate_policy' && compiled.kind === 'certificate_policy') {
      (same.oids as string[]).push(...compiled.oids);
    } else if ('values' in same && 'values' in compiled) {
      for (const v of compiled.values) (same.values as Set<string>).add(v);
    }
  });
  return out;
}

function outcomeFor<P extends Policy>(policy: P): PolicyOutcome<P> {
  switch (policy.decision) {
    case 'bypass':
      return Object.freeze({ outcome: 'bypass', policy });
    case 'deny':
      return Object.freeze({ outcome: 'deny', policy, reason: 'deny_policy' });
    case 'non_identity':
      return Object.freeze({ outcome: 'allow', policy, kind: 'non_identity' });
    case 'allow':
      return Object.freeze({ outcome: 'allow', policy, kind: 'identity' });
  }
}

const POLICY_FIELDS = Object.keys(Policy.properties);

function modelFields(policy: unknown): unknown {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) return policy;
  const out: Record<string, unknown> = {};
  for (const key of POLICY_FIELDS) {
    const value = (policy as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function rulesOf(policy: Policy): Rule[] {
  return [...policy.include, ...(policy.exclude ?? []), ...(policy.require ?? [])];
}

function evalRule(
  rule: CompiledRule,
  facts: RequestFacts,
  identity: Identity | undefined,
  missing: Truth,
): Truth {
  switch (rule.kind) {
    case 'certificate':
      return facts.certificate?.valid === true ? TRUE : FALSE;
    case 'common_name': {
      const cert = facts.certificate;
      return cert?.valid === true && cert.commonName !== undefined && rule.values.has(cert.commonName)
        ? TRUE
        : FALSE;
    }
    case 'email':
      if (!identity) return missing;
      return rule.values.has(scratch.email) ? TRUE : FALSE;
    case 'email_domain':
      if (!identity) return missing;
      return rule.values.has(scratch.emailDomain) ? TRUE : FALSE;
    case 'group':
      if (!identity) return missing;
      for (const group of identity.groups) if (rule.values.has(group)) return TRUE;
      return FALSE;
    case 'service_token':
      return facts.serviceToken !== undefined && rule.values.has(facts.serviceToken.id) ? TRUE : FALSE;
    case 'any_valid_service_token':
      return facts.serviceToken !== undefined ? TRUE : FALSE;
    case 'ip': {
      const family = scratch.family;
      if (family === 0) return FALSE;
      for (const cidr of rule.cidrs) if (cidrContains(cidr, family, scratch.address)) return TRUE;
      return FALSE;
    }
    case 'everyone':
      return TRUE;
    case 'device_posture': {
      const passing = facts.passingPosture;
      if (!passing) return FALSE;
      for (const id of rule.ids) if (passing.has(id)) return TRUE;
      return FALSE;
    }
    case 'device_assurance': {
      // Only a valid certificate of an active registration has a level (absent: none at all).
      const cert = facts.certificate;
      const level = cert?.valid === true ? cert.deviceAssurance : undefined;
      if (level === undefined) return FALSE;
      for (const required of rule.values)
        if (meetsAssurance(level, required as DeviceAssuranceLevel)) return TRUE;
      return FALSE;
    }
    case 'certificate_policy': {
      const cert = facts.certificate;
      return cert?.valid === true && cert.policies !== undefined && policySetAccepts(cert.policies, rule.oids)
        ? TRUE
        : FALSE;
    }
  }
}

/** ANY of `rules` (an empty list is FALSE). */
function any(
  rules: readonly CompiledRule[],
  facts: RequestFacts,
  identity: Identity | undefined,
  missing: Truth,
) {
  let result: Truth = FALSE;
  for (const rule of rules) {
    const t = evalRule(rule, facts, identity, missing);
    if (t === TRUE) return TRUE;
    if (t === UNKNOWN) result = UNKNOWN;
  }
  return result;
}

/** EVERY one of `rules` (an empty list is TRUE). */
function every(
  rules: readonly CompiledRule[],
  facts: RequestFacts,
  identity: Identity | undefined,
  missing: Truth,
) {
  let result: Truth = TRUE;
  for (const rule of rules) {
    const t = evalRule(rule, facts, identity, missing);
    if (t === FALSE) return FALSE;
    if (t === UNKNOWN) result = UNKNOWN;
  }
  return result;
}

/**
 * include (any) AND NOT exclude (any) AND require (every), in Kleene logic. `missing` is what an
 * identity rule evaluates to when `identity` is undefined: FALSE when the request is judged
 * without a login (bypass, non_identity, or a deny as seen by such a request), UNKNOWN when a
 * login could still supply the identity.
 */
function match<P extends Policy>(
  policy: CompiledPolicy<P>,
  facts: RequestFacts,
  identity: Identity | undefined,
  missing: Truth,
): Truth {
  const include = any(policy.include, facts, identity, missing);
  if (include === FALSE) return FALSE;
  const require = every(policy.require, facts, identity, missing);
  if (require === FALSE) return FALSE;
  const exclude = any(policy.exclude, facts, identity, missing);
  if (exclude === TRUE) return FALSE;
  return include === TRUE && require === TRUE && exclude === FALSE ? TRUE : UNKNOWN;
}

/** An application's policies, compiled once and evaluated per request. */
export class CompiledPolicies<P extends Policy = Policy> {
  readonly policies: readonly P[];
  /** Some rule looks at the client certificate (CERTIFICATE_RULE_TYPES) or its device's posture: bind tokens to it. */
  readonly needsCertificate: boolean;
  /** Some policy is an allow policy, i.e. a user can gain access by logging in. */
  readonly hasAllowPolicies: boolean;
  /** The device posture rules the policies name (a session then lasts only while they pass). */
  readonly postureIds: readonly string[];
  readonly #bypass: CompiledPolicy<P>[] = [];
  readonly #deny: CompiledPolicy<P>[] = [];
  readonly #nonIdentity: CompiledPolicy<P>[] = [];
  readonly #allow: CompiledPolicy<P>[] = [];
  readonly #hasIp: boolean;
  readonly #hasEmail: boolean;

  constructor(policies: readonly P[]) {
    this.policies = policies;
    const types = new Set<RuleType>();
    policies.forEach((policy, i) => {
      const where = `policies[${i}]`;
      // Only the model's own fields are checked: stored policies may carry more (an id…).
      const model = modelFields(policy);
      if (!Value.Check(Policy, model)) {
        const first = Value.Errors(Policy, model).First();
        throw badRequest(
          'invalid_policy',
          `${where}${first ? `${first.path}: ${first.message}` : ': does not match the policy schema'}`,
        );
      }
      const own = rulesOf(policy)
        .map(ruleType)
        .filter((t) => t !== undefined);
      if (policy.decision === 'bypass' || policy.decision === 'non_identity') {
        const identityRule = own.find((t) => IDENTITY_RULE_TYPES.includes(t));
        if (identityRule) {
          throw badRequest(
            'identity_rule_not_allowed',
            `${where} ("${policy.name}"): a ${policy.decision} policy is evaluated without a login, so it cannot use "${identityRule}" rules`,
          );
        }
      }
      for (const t of own) types.add(t);
      const compiled: CompiledPolicy<P> = {
        include: compileList(policy.include, `${where}.include`, true),
        exclude: compileList(policy.exclude ?? [], `${where}.exclude`, true),
        require: compileList(policy.require ?? [], `${where}.require`, false),
        outcome: outcomeFor(policy),
      };
      const groups = {
        bypass: this.#bypass,
        deny: this.#deny,
        non_identity: this.#nonIdentity,
        allow: this.#allow,
      };
      groups[policy.decision].push(compiled);
    });
    // Posture belongs to the device behind the certificate: a token must stay on that certificate.
    this.needsCertificate = CERTIFICATE_RULE_TYPES.some((t) => types.has(t)) || types.has('device_posture');
    this.postureIds = [
      ...new Set(
        policies.flatMap((p) =>
          rulesOf(p).flatMap((r) => (r.device_posture ? [r.device_posture.integration_uid] : [])),
        ),
      ),
    ];
    this.hasAllowPolicies = this.#allow.length > 0;
    this.#hasIp = types.has('ip');
    this.#hasEmail = types.has('email') || types.has('email_domain');
  }

  /**
   * The decision for one request. For a request without an identity, a deny policy is looked at
   * twice: as the request stands (identity rules FALSE: what applies if the user never logs in)
   * and as it could be after a login (identity rules UNKNOWN). A deny that matches either way
   * refuses at once. One that matches only as the request stands (e.g. "everyone except
   * alice@") keeps non_identity policies from allowing, but still lets the user log in when an
   * allow policy could match; after the login it is decided with the identity.
   */
  evaluate(facts: RequestFacts): PolicyOutcome<P> {
    if (this.#hasIp) {
      scratch.family = parseAddress(facts.ip, scratch.address);
      if (scratch.family === 0) return INVALID_CLIENT_IP;
    }
    const identity = facts.identity;
    if (identity && this.#hasEmail) {
      const email = identity.email.toLowerCase();
      const at = email.lastIndexOf('@');
      scratch.email = email;
      scratch.emailDomain = at < 0 ? '' : email.slice(at + 1);
    }

    for (const p of this.#bypass) if (match(p, facts, undefined, FALSE) === TRUE) return p.outcome;

    let deniedWithoutLogin: CompiledPolicy<P> | undefined;
    for (const p of this.#deny) {
      if (identity) {
        if (match(p, facts, identity, FALSE) === TRUE) return p.outcome;
        continue;
      }
      const afterLogin = match(p, facts, undefined, UNKNOWN);
      if (afterLogin === TRUE) return p.outcome;
      if (afterLogin === UNKNOWN && !deniedWithoutLogin && match(p, facts, undefined, FALSE) === TRUE) {
        deniedWithoutLogin = p;
      }
    }

    if (!deniedWithoutLogin) {
      for (const p of this.#nonIdentity) if (match(p, facts, undefined, FALSE) === TRUE) return p.outcome;
    }

    if (identity) {
      for (const p of this.#allow) if (match(p, facts, identity, FALSE) === TRUE) return p.outcome;
      return NO_MATCH;
    }
    for (const p of this.#allow) if (match(p, facts, undefined, UNKNOWN) !== FALSE) return LOGIN_REQUIRED;
    return deniedWithoutLogin ? deniedWithoutLogin.outcome : NO_MATCH;
  }
}

/**
 * Checks and compiles an application's policies (list order is kept within each decision).
 * Throws GatehouseError 400: `invalid_policy` (schema: unknown rule type, malformed rule…),
 * `invalid_cidr`, `identity_rule_not_allowed` (email/email_domain/group in a bypass or
 * non_identity policy). The edge compiles when it loads a snapshot; a failure there must fail
 * closed (deny the application), never skip the policy.
 */
export function compilePolicies<P extends Policy>(policies: readonly P[]): CompiledPolicies<P> {
  return new CompiledPolicies(policies);
}

/**
 * Evaluates policies for one request. Pass the result of `compilePolicies` on the hot path; a
 * plain list is compiled on every call (tests, tools).
 */
export function evaluatePolicies<P extends Policy>(
  policies: CompiledPolicies<P> | readonly P[],
  facts: RequestFacts,
): PolicyOutcome<P> {
  const compiled = policies instanceof CompiledPolicies ? policies : new CompiledPolicies(policies);
  return compiled.evaluate(facts);
}

/**
 * Whether an application's policies look at the client certificate (any rule of
 * CERTIFICATE_RULE_TYPES, in include, exclude or require): then an access token issued for it must
 * be bound to the certificate the user presented.
 */
export function policiesNeedCertificate(policies: readonly Policy[]): boolean {
  return policies.some((p) => rulesOf(p).some((r) => CERTIFICATE_RULE_TYPES.some((t) => r[t] !== undefined)));
}
