import { candidatePaths, type SubjectIndex } from './build.js';
import { type CrlIndex, checkPathRevocation, type RevocationContext, type SignerResult } from './crl.js';
import type { ParsedCertificate } from './parse.js';
import { type LegacyAllowances, NO_ALLOWANCES, type VerifyProfile, weakCrlSignature } from './profile.js';
import type { PolicyInputs } from './policy.js';
import { fail } from './types.js';
import { validatePath } from './validate.js';
import { FailureTracker, type WorkBudget } from './work.js';

/** Everything one verifyChain call shares, including with the validation of CRL signers. */
export interface EngineContext {
  readonly at: Date;
  readonly maxIntermediates: number;
  readonly anchors: SubjectIndex;
  readonly pool: SubjectIndex;
  /** Undefined when revocation checking is off. */
  readonly crls?: CrlIndex;
  readonly budget: WorkBudget;
  readonly profile: VerifyProfile;
  readonly legacy?: ReadonlyMap<string, LegacyAllowances>;
  /** Name-constraint comparisons, bounded separately (MAX_NAME_CONSTRAINT_CHECKS). */
  readonly nameChecks: WorkBudget;
  readonly policy: PolicyInputs;
}

interface Scope {
  readonly requiredEku?: string;
  /** Only this anchor may end the path (CRL signer validation). */
  readonly anchor?: ParsedCertificate;
  /** CRL signers whose validation is in progress, outermost first: guards against cycles. */
  readonly signers: readonly ParsedCertificate[];
}

/** CRL signer paths may themselves need CRL signers; two levels cover every real deployment. */
const MAX_SIGNER_NESTING = 2;

function revocationContext(
  ctx: EngineContext,
  crls: CrlIndex,
  scope: Scope,
  anchor: ParsedCertificate,
): RevocationContext {
  const legacy = ctx.legacy?.get(anchor.fingerprint) ?? NO_ALLOWANCES;
  return {
    at: ctx.at,
    crls,
    pool: ctx.pool,
    budget: ctx.budget,
    weakSignature: ctx.profile === 'strict' ? (crl) => weakCrlSignature(crl, legacy) : () => undefined,
    validateSigner(signer, anchor): SignerResult {
      if (scope.signers.includes(signer)) {
        return {
          failure: fail('crl_invalid', `${signer.label}: its status depends on a CRL it signed itself`),
        };
      }
      if (scope.signers.length >= MAX_SIGNER_NESTING) {
        return { failure: fail('crl_invalid', `${signer.label}: CRL signers are nested too deeply`) };
      }
      return findPath(signer, ctx, { anchor, signers: [...scope.signers, signer] });
    },
  };
}

/**
 * Builds candidate paths for `leaf` and returns the first that passes validation (and revocation
 * checking, when on), or the most relevant failure.
 */
export function findPath(leaf: ParsedCertificate, ctx: EngineContext, scope: Scope): SignerResult {
  const failures = new FailureTracker();
  const paths = candidatePaths(leaf, {
    anchors: ctx.anchors,
    pool: ctx.pool,
    at: ctx.at,
    maxIntermediates: ctx.maxIntermediates,
    budget: ctx.budget,
    failures,
    anchor: scope.anchor,
  });
  for (const path of paths) {
    const failure =
      validatePath(path, {
        at: ctx.at,
        requiredEku: scope.requiredEku,
        profile: ctx.profile,
        legacy: ctx.legacy,
        nameChecks: ctx.nameChecks,
        // CRL signer paths (RFC 5280 §6.3.3 (f)) use the default policy inputs.
        policy: scope.signers.length === 0 ? ctx.policy : {},
        crlSigner: scope.signers.length > 0,
      }) ??
      (ctx.crls
        ? checkPathRevocation(path, revocationContext(ctx, ctx.crls, scope, path[path.length - 1]!))
        : undefined);
    if (!failure) return { path };
    failures.completePath(failure);
    if (ctx.budget.exhausted) break;
  }
  if (ctx.budget.exhausted) {
    const best = failures.failure ? `; most relevant failure so far: ${failures.failure.reason}` : '';
    const reason = `${leaf.label}: gave up after ${ctx.budget.spent} work units without finding a valid path${best}`;
    return { failure: fail('path_too_complex', reason) };
  }
  return { failure: failures.failure ?? fail('untrusted', `${leaf.label}: no path to a trust anchor`) };
}
