import { type PolicyInputs, processPolicies } from './policy.js';
import { certSignedBy, keyInPath } from './keys.js';
import { type ActiveConstraints, checkNameConstraints } from './name-constraints.js';
import { OID } from './oids.js';
import { KEY_USAGE, type ParsedCertificate } from './parse.js';
import {
  checkAnchor,
  checkKey,
  checkLeaf,
  checkSignature,
  checkStructure,
  checkSubjectAltNames,
  type LegacyAllowances,
  NO_ALLOWANCES,
  type VerifyProfile,
} from './profile.js';
import { type Failure, fail } from './types.js';
import type { WorkBudget } from './work.js';

export interface ValidationParams {
  readonly at: Date;
  readonly requiredEku?: string;
  readonly profile: VerifyProfile;
  /** Legacy allowances by anchor fingerprint. */
  readonly legacy?: ReadonlyMap<string, LegacyAllowances>;
  /** Counts name-constraint checks (bounded, see name-constraints.ts). */
  readonly nameChecks: WorkBudget;
  readonly policy: PolicyInputs;
  /**
   * The path's first certificate signs CRLs (a CRL signer validated for revocation checking), not
   * a client certificate: it is normally a CA, so the strict profile's leaf rules (`ca_as_leaf`,
   * EKU strictness) do not apply to it.
   */
  readonly crlSigner?: boolean;
}

/** The strict profile's checks of one certificate below the anchor. */
function strictFailure(
  cert: ParsedCertificate,
  who: string,
  isLeaf: boolean,
  params: ValidationParams,
  legacy: LegacyAllowances,
): Failure | undefined {
  return (
    checkSignature(cert, who, legacy) ??
    checkKey(cert, who, legacy) ??
    (isLeaf && !params.crlSigner ? checkLeaf(cert, who, params.requiredEku) : undefined) ??
    checkStructure(cert, who) ??
    checkSubjectAltNames(cert, who)
  );
}

/** An EKU extension allows a purpose if it lists it or anyExtendedKeyUsage. */
const ekuAllows = (eku: readonly string[], purpose: string) =>
  eku.includes(purpose) || eku.includes(OID.anyExtendedKeyUsage);

/**
 * Trust anchors are trust input (RFC 5280 §6.1.1 (d)): their signature, validity period,
 * basicConstraints cA and keyUsage are not checked. The constraints a self-signed anchor
 * certificate carries do apply (RFC 5937 §2: pathLenConstraint, nameConstraints; and EKU as Go
 * does), because an operator who installs a constrained root expects the constraints to hold.
 */
function anchorConstraints(anchor: ParsedCertificate, params: ValidationParams) {
  if (params.requiredEku && anchor.extKeyUsage && !ekuAllows(anchor.extKeyUsage, params.requiredEku)) {
    return {
      failure: fail(
        'eku_mismatch',
        `trust anchor ${anchor.label}: extendedKeyUsage excludes ${params.requiredEku}`,
      ),
    };
  }
  const nameConstraints: ActiveConstraints[] = anchor.nameConstraints
    ? [{ constraints: anchor.nameConstraints, imposedBy: anchor }]
    : [];
  return { maxPathLength: anchor.basicConstraints?.pathLen ?? Number.POSITIVE_INFINITY, nameConstraints };
}

/**
 * RFC 5280 §6.1 basic path validation of path = [leaf, …, anchor], except revocation (crl.ts,
 * run only on paths that pass this); certificate policies are in policy.ts.
 * Certificates are processed from the anchor down, as in the RFC, so the first failure reported
 * is the one closest to the anchor.
 */
export function validatePath(
  path: readonly ParsedCertificate[],
  params: ValidationParams,
): Failure | undefined {
  const anchor = path[path.length - 1]!;
  const strict = params.profile === 'strict';
  const legacy = params.legacy?.get(anchor.fingerprint) ?? NO_ALLOWANCES;
  if (strict) {
    const pinned = path.length === 2 && path[0]!.fingerprint === anchor.fingerprint;
    const failure =
      checkAnchor(anchor, params.at, pinned) ?? checkKey(anchor, `trust anchor ${anchor.label}`, legacy);
    if (failure) return failure;
  }
  const init = anchorConstraints(anchor, params);
  if ('failure' in init) return init.failure;
  let maxPathLength = init.maxPathLength;
  let maxPathLengthSetBy = anchor;
  const nameConstraints = init.nameConstraints;

  for (let i = path.length - 2; i >= 0; i--) {
    const cert = path[i]!;
    const issuer = path[i + 1]!;
    const isLeaf = i === 0;
    const who = `${isLeaf ? (params.crlSigner ? 'CRL signer' : 'leaf') : 'intermediate'} ${cert.label}`;

    // §6.1.3 (a)(4): the path builder chains by name; re-checked so this function stands alone.
    if (cert.issuer.key !== issuer.subject.key) {
      return fail('untrusted', `${who}: issuer name does not match the subject of ${issuer.label}`);
    }
    // §6.1.3 (a)(1)
    const key = keyInPath(path, i + 1);
    if (!key || !certSignedBy(cert, key)) {
      return fail('bad_signature', `${who}: signature does not verify with the key of ${issuer.label}`);
    }
    // §6.1.3 (a)(2)
    if (params.at < cert.notBefore) {
      return fail('not_yet_valid', `${who}: not valid before ${cert.notBefore.toISOString()}`);
    }
    if (params.at > cert.notAfter) {
      return fail('expired', `${who}: expired at ${cert.notAfter.toISOString()}`);
    }
    // §6.1.4 (o) and §6.1.5 (f)
    if (cert.unsupportedExtensions.length > 0) {
      const what = cert.unsupportedExtensions.join(', ');
      return fail('unknown_critical_extension', `${who}: cannot process ${what}`);
    }
    if (strict) {
      const failure = strictFailure(cert, who, isLeaf, params, legacy);
      if (failure) return failure;
    }
    // §6.1.3 (b), (c): self-issued intermediates are exempt, the leaf never is.
    if (isLeaf || !cert.selfIssued) {
      const failure = checkNameConstraints(cert, nameConstraints, params.nameChecks);
      if (failure) return failure;
    }
    if (params.requiredEku) {
      const eku = cert.extKeyUsage;
      // The leaf must state the purpose: a leaf without EKU is rejected (stricter than RFC 5280,
      // which reads "no EKU" as "any purpose"). An intermediate only fails if its EKU excludes it.
      if (isLeaf ? !eku || !ekuAllows(eku, params.requiredEku) : eku && !ekuAllows(eku, params.requiredEku)) {
        const has = eku ? `extendedKeyUsage ${eku.join(', ')}` : 'no extendedKeyUsage extension';
        return fail('eku_mismatch', `${who}: ${params.requiredEku} required, certificate has ${has}`);
      }
    }
    if (isLeaf) break;

    // §6.1.4 (k): only CAs may issue. v1/v2 certificates (no basicConstraints) are not CAs.
    const bc = cert.basicConstraints;
    if (!bc?.ca) {
      return fail(
        'not_ca',
        `${who}: issued a certificate but ${bc ? 'its basicConstraints has cA false' : 'has no basicConstraints'}`,
      );
    }
    // §6.1.4 (l), (m): self-issued certificates do not count towards the path length.
    if (!cert.selfIssued) {
      if (maxPathLength <= 0) {
        return fail(
          'path_length_exceeded',
          `${who}: exceeds the pathLenConstraint of ${maxPathLengthSetBy.label}`,
        );
      }
      maxPathLength--;
    }
    if (bc.pathLen !== undefined && bc.pathLen < maxPathLength) {
      maxPathLength = bc.pathLen;
      maxPathLengthSetBy = cert;
    }
    // §6.1.4 (n)
    if (cert.keyUsage !== undefined && !(cert.keyUsage & KEY_USAGE.keyCertSign)) {
      return fail('key_usage', `${who}: issued a certificate but its keyUsage lacks keyCertSign`);
    }
    // §6.1.4 (g)
    if (cert.nameConstraints) nameConstraints.push({ constraints: cert.nameConstraints, imposedBy: cert });
  }
  // Certificate policies (policy.ts): after the per-certificate checks, as it needs the whole path.
  return processPolicies(path, params.policy);
}
