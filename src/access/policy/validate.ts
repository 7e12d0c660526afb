import { Value } from '@sinclair/typebox/value';
import { badRequest, isGatehouseError } from '../../errors/index.js';
import { formatDomain, parseDomain } from './domain.js';
import { DEFAULT_SESSION_DURATION, parseDuration } from './duration.js';
import { compilePolicies } from './evaluate.js';
import { AccessAppInput, type Policy } from './schema.js';

/** An application as it is stored: the input, checked and normalised, plus derived fields. */
export interface ValidatedAccessApp {
  name: string;
  /** Normalised: `hostname` or `hostname/prefix`. */
  domain: string;
  hostname: string;
  pathPrefix: string;
  session_duration: string;
  sessionDurationMs: number;
  policies: Policy[];
  allowed_idps?: string[];
}

function withPrefix<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw isGatehouseError(err) ? badRequest(err.code, `${where}: ${err.message}`, err) : err;
  }
}

/**
 * Write-time validation of an application, for the API (after its schema check) and any other
 * caller: the schema again (unknown keys and rule types, limits), then what a schema cannot say.
 * Throws GatehouseError 400 with `invalid_request` (schema), `invalid_domain`,
 * `invalid_duration`, `invalid_cidr`, `invalid_policy` or `identity_rule_not_allowed`.
 */
export function validateAccessApp(input: unknown): ValidatedAccessApp {
  if (!Value.Check(AccessAppInput, input)) {
    const first = Value.Errors(AccessAppInput, input).First();
    throw badRequest(
      'invalid_request',
      first ? `${first.path || '/'}: ${first.message}` : 'not a valid access application',
    );
  }
  const { hostname, pathPrefix } = parseDomain(input.domain);
  const session_duration = input.session_duration ?? DEFAULT_SESSION_DURATION;
  const sessionDurationMs = withPrefix('session_duration', () => parseDuration(session_duration));
  input.policies.forEach((policy, i) => {
    if (policy.session_duration !== undefined) {
      const text = policy.session_duration;
      withPrefix(`policies[${i}].session_duration`, () => parseDuration(text));
    }
  });
  compilePolicies(input.policies);
  return {
    name: input.name,
    domain: formatDomain({ hostname, pathPrefix }),
    hostname,
    pathPrefix,
    session_duration,
    sessionDurationMs,
    policies: input.policies,
    ...(input.allowed_idps ? { allowed_idps: input.allowed_idps } : {}),
  };
}

/** The session duration a login through `policy` gets: the policy's own, else the application's. */
export function sessionDurationMsFor(policy: Policy, appSessionDurationMs: number): number {
  return policy.session_duration === undefined
    ? appSessionDurationMs
    : parseDuration(policy.session_duration);
}
