import type { X509Certificate } from 'node:crypto';
import type { ParsedCertificate, ParsedCrl } from './parse.js';

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
] as const;

export type VerifyFailureCode = (typeof VERIFY_FAILURE_CODES)[number];

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
}

export type VerifyResult =
  | {
      ok: true;
      /** The validated path: leaf first, trust anchor last. */
      chain: ParsedCertificate[];
      /** Work units spent (see VerifyOptions.maxWork). */
      work: number;
    }
  | { ok: false; code: VerifyFailureCode; reason: string; work: number };

/** Internal failure: a code plus a message that names the certificate at fault. */
export interface Failure {
  code: VerifyFailureCode;
  reason: string;
}

export const fail = (code: VerifyFailureCode, reason: string): Failure => ({ code, reason });
