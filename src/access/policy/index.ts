/**
 * Access applications and policies: the model (TypeBox schemas, also the API's validation and
 * OpenAPI), write-time validation, application selection, and the pure per-request evaluator.
 * See docs/access-policies.md.
 */
export {
  AccessAppInput,
  CERTIFICATE_RULE_TYPES,
  DECISIONS,
  type Decision,
  Duration,
  IDENTITY_RULE_TYPES,
  MAX_POLICIES_PER_APP,
  MAX_RULES_PER_LIST,
  Policy,
  Rule,
  RULE_TYPES,
  type RuleType,
  UUID_PATTERN,
} from './schema.js';
export { DEFAULT_SESSION_DURATION, MAX_SESSION_DURATION_MS, parseDuration } from './duration.js';
export {
  type AppDomain,
  AppIndex,
  type AppLocation,
  canonicalPath,
  formatDomain,
  parseDomain,
  pathHasPrefix,
  selectApp,
} from './domain.js';
export { type Cidr, cidrContains, parseAddress, parseCidr } from './ip.js';
export {
  type AllowOutcome,
  type BypassOutcome,
  CompiledPolicies,
  compilePolicies,
  type DenyOutcome,
  type DenyReason,
  evaluatePolicies,
  type LoginRequiredOutcome,
  policiesNeedCertificate,
  type PolicyOutcome,
  type RequestFacts,
} from './evaluate.js';
export { sessionDurationMsFor, type ValidatedAccessApp, validateAccessApp } from './validate.js';
