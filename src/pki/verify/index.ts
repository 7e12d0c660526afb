/**
 * RFC 5280 certification path validation for client certificates: `verifyChain`.
 *
 * Synchronous and bounded, for the TLS hot path: signatures are checked by node's native
 * X509Certificate / crypto.verify, extensions are decoded once per certificate (parse.ts), and
 * signature results are cached on pre-parsed objects. What is and is not implemented, and the
 * PKITS results, are in docs/pkits.md.
 */
import { isGatehouseError } from '../../errors/index.js';
import { indexBySubject } from './build.js';
import { indexCrls } from './crl.js';
import { findPath } from './engine.js';
import {
  type ParsedCertificate,
  type ParsedCrl,
  parseCertificate,
  parseCertificates,
  parseCrls,
} from './parse.js';
import type { CertificateInput, VerifyOptions, VerifyResult } from './types.js';
import { DEFAULT_MAX_WORK, MAX_NAME_CONSTRAINT_CHECKS, WorkBudget } from './work.js';

export {
  isParsedCertificate,
  isParsedCrl,
  type ParsedCertificate,
  type ParsedCrl,
  parseCertificate,
  parseCertificates,
  parseCrl,
  parseCrls,
} from './parse.js';
export {
  type CertificateInput,
  type CrlInput,
  STRICT_PROFILE_CODES,
  type StrictProfileCode,
  VERIFY_FAILURE_CODES,
  type VerifyFailureCode,
  type VerifyOptions,
  type VerifyResult,
} from './types.js';
export { ANY_POLICY, policySetAccepts, validPolicies } from './policy.js';
export { caChainFailure, type LegacyAllowances, type VerifyProfile } from './profile.js';
export { DEFAULT_MAX_WORK, MAX_NAME_CONSTRAINT_CHECKS } from './work.js';

export const DEFAULT_MAX_PATH_LENGTH = 8;

class InputError extends Error {}

function parseInput<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (isGatehouseError(err)) throw new InputError(`${what}: ${err.message}`);
    throw err;
  }
}

interface Inputs {
  leaf: ParsedCertificate;
  intermediates: ParsedCertificate[];
  anchors: ParsedCertificate[];
  crls?: ParsedCrl[];
}

function parseInputs(options: VerifyOptions): Inputs {
  const leaf = parseInput('leaf', () => parseCertificate(options.leaf));
  const anchors = (options.trustAnchors ?? []).flatMap((a: CertificateInput, i) =>
    parseInput(`trust anchor #${i + 1}`, () => parseCertificates(a)),
  );
  const anchorPrints = new Set(anchors.map((a) => a.fingerprint));
  const seen = new Set<string>();
  const intermediates = (options.intermediates ?? [])
    .flatMap((c: CertificateInput, i) => parseInput(`intermediate #${i + 1}`, () => parseCertificates(c)))
    // An intermediate that is also an anchor, or listed twice, only adds work.
    .filter((c) => !anchorPrints.has(c.fingerprint) && !seen.has(c.fingerprint) && seen.add(c.fingerprint));
  const crls = options.crls?.flatMap((c, i) => parseInput(`CRL #${i + 1}`, () => parseCrls(c)));
  return { leaf, intermediates, anchors, crls };
}

/**
 * Validates `leaf` against the trust anchors at time `at` (RFC 5280 §6), building the path
 * through `intermediates`. Never throws for bad certificates or CRLs: those are failures with
 * code `malformed`. Throws TypeError only for programming errors (bad `at` / limits).
 *
 * Pass pre-parsed inputs (parseCertificate / parseCrl) on hot paths: parsing is the expensive
 * part, and signature results are cached on the parsed objects.
 */
export function verifyChain(options: VerifyOptions): VerifyResult {
  const { at } = options;
  if (!(at instanceof Date) || Number.isNaN(at.getTime()))
    throw new TypeError('verifyChain: `at` must be a valid Date');
  const maxIntermediates = options.maxPathLength ?? DEFAULT_MAX_PATH_LENGTH;
  const maxWork = options.maxWork ?? DEFAULT_MAX_WORK;
  for (const [name, value] of [
    ['maxPathLength', maxIntermediates],
    ['maxWork', maxWork],
  ] as const) {
    if (!Number.isInteger(value) || value < 0)
      throw new TypeError(`verifyChain: ${name} must be a non-negative integer`);
  }

  let inputs: Inputs;
  try {
    inputs = parseInputs(options);
  } catch (err) {
    if (err instanceof InputError) {
      return { ok: false, code: 'malformed', reason: err.message, work: 0, nameConstraintChecks: 0 };
    }
    throw err;
  }

  const budget = new WorkBudget(maxWork);
  const nameChecks = new WorkBudget(MAX_NAME_CONSTRAINT_CHECKS);
  const result = findPath(
    inputs.leaf,
    {
      at,
      maxIntermediates,
      anchors: indexBySubject(inputs.anchors),
      pool: indexBySubject(inputs.intermediates),
      crls: inputs.crls ? indexCrls(inputs.crls) : undefined,
      budget,
      profile: options.profile ?? 'strict',
      legacy: options.legacyAllowances,
      nameChecks,
      policy: {
        initialPolicies: options.initialPolicies,
        initialExplicitPolicy: options.initialExplicitPolicy,
        initialPolicyMappingInhibit: options.initialPolicyMappingInhibit,
        initialAnyPolicyInhibit: options.initialAnyPolicyInhibit,
      },
    },
    { requiredEku: options.requiredEku, signers: [] },
  );
  const spent = { work: budget.spent, nameConstraintChecks: nameChecks.spent };
  if ('path' in result) return { ok: true, chain: [...result.path], ...spent };
  return { ok: false, ...result.failure, ...spent };
}
