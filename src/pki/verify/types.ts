import type { X509Certificate } from 'node:crypto';
import type { ErrorCode } from '../../errors/index.js';
import type { ParsedCertificate, ParsedCrl } from './parse.js';
import type { LegacyAllowances, VerifyProfile } from './profile.js';

/**
 * The strict profile's failure codes (profile.ts): each is a row of docs/pkits.md "Profile", with
 * its source. A path that RFC 5280 accepts can fail only with one of these under `strict`.
 */
export const STRICT_PROFILE_CODES = [
  'weak_key',
  'weak_signature',
  'ca_as_leaf',
  'any_eku_not_client_auth',
  'eku_mixed',
  'anchor_expired',
  'anchor_not_yet_valid',
  'anchor_not_ca',
  'anchor_unknown_critical_extension',
  'invalid_san',
  'aki_critical',
  'ski_critical',
  'aia_critical',
  'san_critical',
  'missing_aki',
  'missing_ski',
  'empty_subject',
] as const;

export type StrictProfileCode = (typeof STRICT_PROFILE_CODES)[number];

/**
 * Stable failure codes. They appear in API responses and on the edge's block pages, so never
 * rename one; add new codes instead.
 */
export const VERIFY_FAILURE_CODES = [
  'untrusted',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'not_ca',
  'path_length_exceeded',
  'key_usage',
  'eku_mismatch',
  'unknown_critical_extension',
  'name_constraints',
  'revoked',
  'crl_invalid',
  'malformed',
  'path_too_complex',
  // strict profile (profile.ts, docs/pkits.md "Profile")
  ...STRICT_PROFILE_CODES,
  // both profiles: the bound on names × subtrees (name-constraints.ts)
  'name_constraints_too_complex',
  // certificate policies (policy.ts)
  'policy_required',
  'policy_invalid',
] as const;

export type VerifyFailureCode = (typeof VERIFY_FAILURE_CODES)[number];
/** Each failure code reaches clients (uploads, verdicts): each is in the error catalogue too. */
export const VERIFY_CODES_CATALOGUED: readonly ErrorCode[] = VERIFY_FAILURE_CODES;

/** A certificate as DER bytes, PEM text (one block), node's X509Certificate, or pre-parsed. */
export type CertificateInput = Uint8Array | string | X509Certificate | ParsedCertificate;

/** A CRL as DER bytes, PEM text (one `X509 CRL` block), or pre-parsed. */
export type CrlInput = Uint8Array | string | ParsedCrl;

export interface VerifyOptions {
  /** The end-entity certificate to validate. */
  leaf: CertificateInput;
  /** Untrusted certificates that may be used to build the path, in any order. PEM bundles allowed. */
  intermediates?: readonly CertificateInput[];
  /** Trust anchors. Only their subject name and public key (plus the constraints they carry) are used. */
  trustAnchors: readonly CertificateInput[];
  /** The time at which the path must be valid. */
  at: Date;
  /** OID the leaf's extendedKeyUsage must contain, e.g. clientAuth '1.3.6.1.5.5.7.3.2'. */
  requiredEku?: string;
  /**
   * Enables revocation checking. When given (even empty), every certificate of the path except the
   * trust anchor must have its status determined by a valid CRL from this list, or the path fails
   * with `crl_invalid`. See docs/pkits.md.
   */
  crls?: readonly CrlInput[];
  /** Maximum number of intermediate certificates between the leaf and the anchor (default 8). */
  maxPathLength?: number;
  /** Work budget: candidate issuer checks plus CRL signature checks (default 100). */
  maxWork?: number;
  /**
   * `strict` (default): the strict profile of docs/pkits.md on top of RFC 5280. `rfc5280`: plain
   * RFC 5280, for conformance suites only.
   */
  profile?: VerifyProfile;
  /**
   * Legacy escape hatches by trust anchor (SHA-256 of the anchor certificate's DER, hex, as in
   * ParsedCertificate.fingerprint): they relax the strict profile for paths ending at that anchor.
   */
  legacyAllowances?: ReadonlyMap<string, LegacyAllowances>;
  /**
   * RFC 5280 §6.1.1 user-initial-policy-set (policy OIDs; default [anyPolicy]). To require one of
   * some policies, pass them here with initialExplicitPolicy.
   */
  initialPolicies?: readonly string[];
  /** RFC 5280 initial-explicit-policy: the path must be valid for a policy of initialPolicies. */
  initialExplicitPolicy?: boolean;
  /** RFC 5280 initial-policy-mapping-inhibit. */
  initialPolicyMappingInhibit?: boolean;
  /** RFC 5280 initial-any-policy-inhibit. */
  initialAnyPolicyInhibit?: boolean;
}

export type VerifyResult =
  | {
      ok: true;
      /** The validated path: leaf first, trust anchor last. */
      chain: ParsedCertificate[];
      /** Work units spent (see VerifyOptions.maxWork). */
      work: number;
      /** Name-constraint comparisons made (bounded by MAX_NAME_CONSTRAINT_CHECKS). */
      nameConstraintChecks: number;
    }
  | { ok: false; code: VerifyFailureCode; reason: string; work: number; nameConstraintChecks: number };

/** Internal failure: a code plus a message that names the certificate at fault. */
export interface Failure {
  code: VerifyFailureCode;
  reason: string;
}

export const fail = (code: VerifyFailureCode, reason: string): Failure => ({ code, reason });
